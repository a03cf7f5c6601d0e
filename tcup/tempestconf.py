"""Run python-tempestconf with some catalog services hidden from its discovery.

python-tempestconf queries every service of the catalog (versions, extensions,
flavors for compute ...) and stops with a traceback when one endpoint does not
answer, even a service the chosen target never uses.  Pre-flight finds such
endpoints (``CloudInfo.unreachable``); ``configure`` then runs tempestconf
through this module, which drops those catalog types from the services
tempestconf discovers, so Tempest is configured as if they were absent
(``[service_available] <name> = False``) and the run goes on::

    python -m tcup.tempestconf --skip-type compute --skip-type placement -- ARGS...

Everything after ``--`` goes to ``discover-tempest-config`` unchanged.  This
module is started as a separate process; tcup itself never imports
python-tempestconf.

It also finds tempestconf's service classes faster: upstream lists them with
``pyclbr``, which parses every module of ``config_tempest.services`` and each
module those import (about 0.4 s) before importing them anyway; importing them
and taking the classes they define gives the same list.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

SKIP_OPTION = "--skip-type"


def split_argv(argv: Sequence[str]) -> tuple[set[str], list[str]]:
    """``--skip-type T ... -- ARGS`` -> (the types, ARGS)."""
    skipped: set[str] = set()
    args = list(argv)
    while args and args[0] != "--":
        option = args.pop(0)
        if option != SKIP_OPTION or not args:
            raise SystemExit(f"usage: python -m tcup.tempestconf [{SKIP_OPTION} TYPE]... -- ARGS")
        skipped.add(args.pop(0))
    return skipped, args[1:]


def hide_services(skipped: set[str]) -> None:
    """Make tempestconf's discovery leave out the catalog types in ``skipped``."""
    from config_tempest.services.services import Services

    original = Services.get_available_services

    def get_available_services(self):  # noqa: ANN001, ANN202
        return [s for s in original(self) if s.get("type") not in skipped]

    Services.get_available_services = get_available_services


def service_classes() -> list[type]:
    """The subclasses of tempestconf's ``Service`` that its service modules define,
    module by module and in the order they are defined: what upstream's
    ``Services.service_classes`` lists."""
    import importlib
    import pkgutil

    import config_tempest.services as package
    from config_tempest.services.base import Service

    found: list[type] = []
    modules = pkgutil.walk_packages(package.__path__, package.__name__ + ".", onerror=_ignore)
    for module_info in modules:
        module = importlib.import_module(module_info.name)
        found += [
            item
            for item in vars(module).values()
            if isinstance(item, type)
            and item.__module__ == module_info.name
            and issubclass(item, Service)
        ]
    return found


def _ignore(_name: str) -> None:
    """Upstream's walk over the service modules ignores a package it cannot import."""


def find_classes_by_import() -> None:
    """Make ``Services`` list its service classes with :func:`service_classes`."""
    from config_tempest.services.services import Services

    if not isinstance(vars(Services).get("service_classes"), property):
        return  # another tempestconf: leave its discovery alone

    def listed(self):  # noqa: ANN001, ANN202
        if not self._service_classes:
            self._service_classes = service_classes()
        return self._service_classes

    Services.service_classes = property(listed)


def main(argv: Sequence[str] | None = None) -> None:
    skipped, args = split_argv(sys.argv[1:] if argv is None else argv)
    hide_services(skipped)
    find_classes_by_import()
    from config_tempest import main as tempestconf

    sys.argv = ["discover-tempest-config", *args]
    tempestconf.main()


if __name__ == "__main__":
    main()

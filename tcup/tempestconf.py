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


def main(argv: Sequence[str] | None = None) -> None:
    skipped, args = split_argv(sys.argv[1:] if argv is None else argv)
    hide_services(skipped)
    from config_tempest import main as tempestconf

    sys.argv = ["discover-tempest-config", *args]
    tempestconf.main()


if __name__ == "__main__":
    main()

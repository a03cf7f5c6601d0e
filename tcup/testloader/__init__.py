"""Load only the test modules a run plans, in each stestr worker.

``stestr run`` starts every worker with ``python -m subunit.run discover``,
and Tempest's own discovery (``tempest/test_discover``) imports every test
module of Tempest and of each installed plugin before the load list picks a
few: about 1.7 s of CPU per worker, paid by every worker at once.  tcup
points stestr's test path at this package instead (see
:func:`tcup.execute.execute`).  Its ``load_tests`` reads the run's load list
(``TCUP_LOAD_LIST``), imports just the modules that hold those tests and
loads them as discovery would (a module's own ``load_tests`` included), so
test ids do not change.

When a planned test is not among what the modules give (a module that
cannot be imported, a package-level ``load_tests``), it falls back to
Tempest's full discovery, so the load list never loses a test to this
shortcut.  This module imports nothing from tcup: it runs inside the
workers.
"""

from __future__ import annotations

import os
import unittest

#: the environment variable naming the run's load list (one test id a line)
LOAD_LIST_ENV = "TCUP_LOAD_LIST"


def planned_ids(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def module_of(test_id: str) -> str:
    """``pkg.module`` of ``pkg.module.Class.test[attrs]``."""
    return test_id.partition("[")[0].rsplit(".", 2)[0]


def test_ids(suite: unittest.TestSuite | unittest.TestCase) -> set[str]:
    if isinstance(suite, unittest.TestSuite):
        return set().union(*(test_ids(t) for t in suite)) if suite.countTestCases() else set()
    return {suite.id()}


def load_planned(loader: unittest.TestLoader, planned: list[str]) -> unittest.TestSuite | None:
    """The suite of the modules holding ``planned``, or None when one is missing from it."""
    suite = unittest.TestSuite()
    errors = len(loader.errors)
    try:
        for module in dict.fromkeys(module_of(t) for t in planned):
            suite.addTests(loader.loadTestsFromName(module))
    except Exception:  # noqa: BLE001 - discovery reports it as a failed import
        del loader.errors[errors:]
        return None
    if len(loader.errors) > errors or not set(planned) <= test_ids(suite):
        del loader.errors[errors:]
        return None
    return suite


def load_tests(loader: unittest.TestLoader, tests: unittest.TestSuite, pattern: str | None):
    path = os.environ.get(LOAD_LIST_ENV)
    suite = load_planned(loader, planned_ids(path)) if path and os.path.isfile(path) else None
    if suite is not None:
        return suite
    from tempest.test_discover import test_discover

    return test_discover.load_tests(loader, tests, pattern)

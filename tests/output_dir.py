"""The files every ``tcup run`` leaves in its output directory.

Written out here, from ``../shared/docs/design.md``, rather than taken from
``tcup``, so the run tests check the library against the design.
"""

from __future__ import annotations

OUTPUT_FILES = (
    "manifest.json",
    "tempest.conf",
    "test-list.txt",
    "results.subunit",
    "results.json",
    "results-extended.json",
    "junit.xml",
    "report.txt",
    "report.md",
    "report.html",
    "report.json",
)

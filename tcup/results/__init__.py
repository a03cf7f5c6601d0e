"""Test results: subunit in; RefStack upload JSON, extended JSON and JUnit XML out.

One module per format, around one model (``model``: ``RunResults`` of
``TestResult``):

* ``stream``: ``read_subunit(data)`` parses a subunit stream, v2 or v1, into
  ``RunResults``; ``SubunitCollector`` does it live during a run.
* ``refstack``: ``refstack_body`` / ``dump_refstack`` build the exact body
  refstack-client uploads to ``POST /v1/results``; ``read_refstack`` validates
  one strictly (the server reuses it).
* ``extended``: ``extended_body`` / ``write_extended`` / ``read_extended``, every
  test with status, duration and failure detail, plus the run environment
  (schema ``tcup.results-extended/1``, see docs/report-format.md).
* ``junit``: ``junit_xml`` for CI systems.
* ``load``: ``load_results`` reads any of the above.

The names below are the package's public API; import them from ``tcup.results``.
"""

from __future__ import annotations

from tcup.results.extended import (
    EXTENDED_JSON_SCHEMA,
    EXTENDED_SCHEMA_ID,
    ExtendedResults,
    RunEnvironment,
    dump_extended,
    extended_body,
    read_extended,
    write_extended,
)
from tcup.results.jsonfile import ResultsFormatError
from tcup.results.junit import junit_xml
from tcup.results.load import OUTPUT_DIR_FILES, Format, LoadedResults, load_results
from tcup.results.model import (
    Kind,
    RunResults,
    State,
    Status,
    TestResult,
    is_fixture_id,
)
from tcup.results.refstack import (
    REFSTACK_KEYS,
    RefstackTest,
    RefstackUpload,
    check_refstack,
    dump_refstack,
    load_refstack,
    read_refstack,
    refstack_body,
    validate_refstack,
)
from tcup.results.stream import MAX_DETAIL_CHARS, SubunitCollector, read_subunit, subunit_version

__all__ = [
    "EXTENDED_JSON_SCHEMA",
    "EXTENDED_SCHEMA_ID",
    "MAX_DETAIL_CHARS",
    "OUTPUT_DIR_FILES",
    "REFSTACK_KEYS",
    "ExtendedResults",
    "Format",
    "Kind",
    "LoadedResults",
    "RefstackTest",
    "RefstackUpload",
    "ResultsFormatError",
    "RunEnvironment",
    "RunResults",
    "State",
    "Status",
    "SubunitCollector",
    "TestResult",
    "check_refstack",
    "dump_extended",
    "dump_refstack",
    "extended_body",
    "is_fixture_id",
    "junit_xml",
    "load_refstack",
    "load_results",
    "read_extended",
    "read_refstack",
    "read_subunit",
    "refstack_body",
    "subunit_version",
    "validate_refstack",
    "write_extended",
]

"""The one exception hierarchy of tcup, and the exit codes it maps to.

Library code raises these; only the command-line layer catches them, prints
one line (and a hint) and exits with ``exit_code``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; each has exactly one meaning."""

    QUALIFIES = 0  # tests ran and the cloud would qualify (or the command succeeded)
    NOT_QUALIFIED = 1  # tests ran but required capabilities (target or an add-on) failed
    USAGE = 2  # usage or input error (bad option, missing/malformed file)
    PREFLIGHT = 3  # credentials, catalog or a required service failed before any test
    RUN = 4  # the test run could not complete (Tempest crashed, interrupted, disk full)
    UPLOAD = 5  # upload failed; results are safe on disk


EXIT_CODE_HELP = """exit codes:
  0  success; for runs and reports: the cloud would qualify for every programme
     asked for (the target and each --add-on)
  1  tests ran but required capabilities of the target or of an add-on failed
     (the report gives one verdict per programme)
  2  usage or input error (bad option, missing or malformed file)
  3  pre-flight failed (credentials, catalog, missing service)
  4  the test run (or writing its files: disk full, ...) could not complete;
     results so far are kept
  5  upload failed (results are safe on disk; retry with `tcup upload`)"""


class TcupError(Exception):
    """Base class: a user-facing ``message``, an optional ``hint`` and an exit code."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(TcupError):
    """Bad user input: a missing or malformed file, an unknown target, a bad option."""

    exit_code = ExitCode.USAGE


class PreflightError(TcupError):
    """The cloud is not usable for the run: credentials, catalog, missing service."""

    exit_code = ExitCode.PREFLIGHT


class RunError(TcupError):
    """The test run could not be completed."""

    exit_code = ExitCode.RUN


class UploadError(TcupError):
    """The upload failed; the results stay on disk."""

    exit_code = ExitCode.UPLOAD

"""Run the tcup command line in-process with a cloud's ``OS_*`` variables and nothing else."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping

import pytest

from tcup import cli


def tcup_with_env(
    monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str], *argv: str
) -> tuple[int, str, str]:
    """``tcup ARGV`` with exactly the ``OS_*`` variables of ``env``: (exit code, stdout, stderr)."""
    for key in [k for k in os.environ if k.startswith("OS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("OS_"):
            monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    return cli.main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()

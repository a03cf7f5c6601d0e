"""A stestr workspace over a copy of the sample suite (as ``tempest init`` would make)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tcup.listing import _stestr

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
RECORDED = FIXTURES / "sample-v2.subunit"  # written by python -m subunit.run (make_fixtures.py)


def make_workspace(tmp_path: Path) -> Path:
    suite = tmp_path / "suite"
    shutil.copytree(FIXTURES / "sample_suite", suite / "sample_suite")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={suite / 'sample_suite'}\ntop_dir={suite}\n", encoding="utf-8"
    )
    subprocess.run([_stestr(), "init"], cwd=ws, check=True, capture_output=True)
    return ws


def quiet_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env

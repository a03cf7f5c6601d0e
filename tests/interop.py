"""Locate the real interop guideline files beside the repository (../shared/interop).

``TCUP_INTEROP_DIR`` overrides the location.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def interop_dir() -> Path:
    override = os.environ.get("TCUP_INTEROP_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared" / "interop"


def guideline_files() -> list[Path]:
    """Every guideline and add-on file, sorted; empty when the folder is absent."""
    root = interop_dir()
    return sorted([*root.glob("*.json"), *(root / "add-ons").glob("*.json")])


def require_interop() -> Path:
    """The interop folder, failing the calling test loudly when it is missing."""
    root = interop_dir()
    if not (root / "2020.06.json").is_file():
        pytest.fail(f"interop guideline files not found in {root}; set TCUP_INTEROP_DIR")
    return root

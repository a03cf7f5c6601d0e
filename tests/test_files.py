"""Files that hold secrets are written 0600, even over a wider existing file."""

from __future__ import annotations

import stat
from pathlib import Path

from tcup.files import write_private


def test_write_private_makes_parents_and_narrows_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "secret.yaml"
    write_private(path, b"one")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_bytes() == b"one"
    path.chmod(0o644)
    write_private(path, b"two")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_bytes() == b"two"

"""Artefacts as files in one directory tree; writes are atomic (temp file + rename)."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tcup_server.storage import ArtefactNotFound, ArtefactStore, StoredObject, StoreUnavailable

_KEY = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class LocalStore(ArtefactStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid artefact key {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ArtefactNotFound(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def check(self) -> None:
        """The root is a directory this process may write in."""
        if not self.root.is_dir():
            raise StoreUnavailable("the artefact directory does not exist")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StoreUnavailable("the artefact directory is not writable")

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every file under the root, including temporary files a crash left behind."""
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix) and path.is_file():
                mtime = path.stat().st_mtime
                modified = dt.datetime.fromtimestamp(mtime, dt.UTC).replace(tzinfo=None)
                yield StoredObject(key, modified)

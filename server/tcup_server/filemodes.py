"""Private at rest whatever the umask: the data directory 0700, the SQLite files 0600.

The database holds argon2 hashes, cpids and unpublished test lists; SQLite
creates its file with ``0644 & ~umask`` and gives the ``-wal`` and ``-shm``
files the database file's mode.  So:

* :func:`prepare_sqlite` (called by ``db.make_engine``) creates the database's
  directory 0700 and the empty database file 0600 *before* SQLite opens it,
  so the file and its WAL/SHM are private from the first byte, under any umask;
* :func:`secure` (every server start and ``tcup-server db upgrade``) tightens
  whatever is looser: the data, keys and artefact directories to 0700, the
  database, its WAL/SHM and the key files to 0600;
* :func:`loose_modes` (``tcup-server db check``) reports each of them with the
  ``chmod`` that fixes it, without changing anything.

A directory with the sticky bit (``/tmp``) is never changed, only reported:
it is shared by design, so the data directory must not be it.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

LOG = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class LooseMode:
    """One path whose mode lets other local users in."""

    path: Path
    mode: int
    wanted: int

    @property
    def fix(self) -> str:
        return f"chmod {self.wanted:o} {self.path}"

    def line(self) -> str:
        return (
            f"mode {self.mode:04o} of {self.path} is too open (want {self.wanted:04o}): "
            f"run `{self.fix}`"
        )


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URL; ``None`` for other databases or memory."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    if not path or path == ":memory:" or "///" not in url:
        return None
    return Path(path)


def prepare_sqlite(path: Path) -> None:
    """Create ``path``'s directory (0700) and an empty ``path`` (0600) unless they exist."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        path.parent.chmod(DIR_MODE)  # mkdir's mode is masked by the umask; 0700 is kept as is
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
    LOG.info("created database file %s (mode %04o)", path, FILE_MODE)


def _candidates(settings) -> list[tuple[Path, int]]:  # noqa: ANN001 - ServerSettings
    """(path, wanted mode) of everything that must be private, existing or not."""
    out: list[tuple[Path, int]] = [(Path(settings.data_dir), DIR_MODE)]
    keys = Path(settings.resolved_keys_dir)
    out += [(keys, DIR_MODE), (keys / "artefact.key", FILE_MODE)]
    out.append((keys / "receipt-key.pem", FILE_MODE))
    if settings.artefact_backend == "local":
        out.append((Path(settings.resolved_artefact_dir), DIR_MODE))
    database = sqlite_file(settings.resolved_database_url)
    if database is not None:
        out += [(Path(f"{database}{suffix}"), FILE_MODE) for suffix in SQLITE_SUFFIXES]
    return out


def loose_modes(settings) -> list[LooseMode]:  # noqa: ANN001 - ServerSettings
    """Every private path (that exists) whose group or other permission bits are set."""
    found = []
    for path, wanted in _candidates(settings):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append(LooseMode(path, mode, wanted))
    return found


def secure(settings) -> list[LooseMode]:  # noqa: ANN001 - ServerSettings
    """Create the data directory (0700) if needed and tighten every loose mode.

    Returns what was tightened; each is logged as a warning.  A sticky
    directory (such as ``/tmp``) is left alone and stays in the report of
    :func:`loose_modes`.
    """
    data_dir = Path(settings.data_dir)
    if not data_dir.exists():
        data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fixed = []
    for loose in loose_modes(settings):
        current = loose.path.stat().st_mode
        if stat.S_ISDIR(current) and current & stat.S_ISVTX:
            LOG.warning(
                "%s is a shared (sticky) directory: not changed; %s", loose.path, loose.line()
            )
            continue
        loose.path.chmod(loose.wanted)
        LOG.warning("tightened mode of %s from %04o to %04o", loose.path, loose.mode, loose.wanted)
        fixed.append(loose)
    return fixed

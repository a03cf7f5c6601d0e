"""The server's guideline directory: synced from a folder or URL, served like RefStack.

Files are kept flat under ``guideline_dir``: ``2020.06.json``, ``next.json``,
``dns.2020.06.json`` ...  Every file is parsed and validated with
``tcup.guidelines`` before it is written, so the directory only ever holds
guidelines that ``tcup`` can score against.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tcup import guidelines as tg
from tcup import testlist
from tcup.errors import InputError

LOG = logging.getLogger(__name__)

# RefStack lists only YYYY.MM.json and next.json, optionally with an add-on prefix.
_LISTED = re.compile(r"^(?:(?P<addon>[a-z_]+)\.)?(?P<version>\d{4}\.\d{2}|next)\.json$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
TRUE_WORDS = {"true", "yes", "1"}


@dataclass(frozen=True)
class GuidelineFile:
    program: str  # "powered" or the add-on name ("dns", "orchestration")
    name: str  # "2020.06.json"
    file: str  # "dns.2020.06.json"


class GuidelineDirectory:
    """Guideline files of one server, read from ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def files(self) -> list[GuidelineFile]:
        found = []
        if not self.root.is_dir():
            return found
        for path in sorted(self.root.iterdir()):
            match = _LISTED.match(path.name)
            if match:
                found.append(
                    GuidelineFile(
                        program=match["addon"] or "powered",
                        name=f"{match['version']}.json",
                        file=path.name,
                    )
                )
        return found

    def listing(self) -> dict[str, list[dict[str, str]]]:
        """RefStack's ``GET /v1/guidelines`` body."""
        out: dict[str, list[dict[str, str]]] = {}
        for item in self.files():
            out.setdefault(item.program, []).append({"name": item.name, "file": item.file})
        return out

    def path_of(self, name: str) -> Path | None:
        """The file for ``name`` (with or without ``.json``), or ``None``."""
        name = name.strip()
        if not name.endswith(".json"):
            name += ".json"
        if not _NAME.match(name) or name.startswith("."):
            return None
        path = self.root / name
        return path if path.is_file() else None

    def raw(self, name: str) -> bytes | None:
        path = self.path_of(name)
        return path.read_bytes() if path else None

    def load(self, name: str) -> tg.Guideline | None:
        """The parsed guideline ``name`` (cached by file identity), or ``None``."""
        path = self.path_of(name)
        if path is None:
            return None
        stat = path.stat()
        return _parse_cached(str(path), stat.st_mtime_ns, stat.st_size)

    def test_lines(self, name: str, target: str, types: str | None, alias: str, flag: str) -> str:
        """RefStack's ``/v1/guidelines/{name}/tests`` text, including its 200-with-error texts."""
        guideline = self.load(name)
        if guideline is None:
            return f"Error getting JSON content for version: {name}"
        statuses = tuple(s.strip() for s in types.split(",") if s.strip()) if types else tg.STATUSES
        try:
            resolved = guideline.resolve_target(target)
            plan = testlist.plan(
                guideline,
                resolved,
                statuses=statuses,
                include_flagged=flag.strip().lower() in TRUE_WORDS,
            )
        except InputError as exc:
            if "target" in exc.message:
                return f"Invalid target: {target}"
            raise
        lines = testlist.format_plan(plan, "refstack", aliases=alias.strip().lower() in TRUE_WORDS)
        return "\n".join(lines)

    def store(self, filename: str, data: bytes) -> tg.Guideline:
        """Validate ``data`` with tcup and write it atomically as ``filename``."""
        if not _LISTED.match(filename):
            raise InputError(
                f"'{filename}' is not a guideline file name",
                hint="expected YYYY.MM.json or next.json, optionally prefixed by an add-on name",
            )
        guideline = tg.parse_guideline(data, filename)
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self.root / filename)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return guideline


@functools.lru_cache(maxsize=64)
def _parse_cached(path: str, _mtime_ns: int, _size: int) -> tg.Guideline:
    return tg.parse_guideline(Path(path).read_bytes(), Path(path).name)


@dataclass(frozen=True)
class SyncReport:
    stored: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]  # (name, reason)


def sync(directory: GuidelineDirectory, spec: str, cache_dir: Path | None = None) -> SyncReport:
    """Copy every guideline of source ``spec`` (directory, URL, ``interop``) into ``directory``.

    Each file is validated by ``tcup.guidelines`` first; invalid ones are
    reported and skipped, never written.
    """
    from tcup import sources

    source = sources.open_source(spec, cache_dir)
    stored, failed = [], []
    for name in source.names():
        try:
            data, origin = source.fetch(name)
            directory.store(f"{name}.json", data)
        except InputError as exc:
            LOG.warning("guideline %s not synced: %s", name, exc.message)
            failed.append((name, exc.message))
            continue
        LOG.info("synced guideline %s from %s", name, origin)
        stored.append(name)
    return SyncReport(tuple(stored), tuple(failed))

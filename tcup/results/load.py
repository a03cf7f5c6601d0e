"""Read results in any format tcup knows: RefStack JSON, extended JSON, subunit v1/v2."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from tcup.errors import InputError
from tcup.results.extended import RunEnvironment, read_extended
from tcup.results.jsonfile import load_json
from tcup.results.model import RunResults
from tcup.results.refstack import REFSTACK_HINT, RefstackUpload, read_refstack
from tcup.results.stream import read_subunit, subunit_version
from tcup.testids import NOT_IN_TEMPEST, TestStates

Format = Literal["refstack", "extended", "subunit-v1", "subunit-v2"]


@dataclass(frozen=True)
class LoadedResults:
    """Results read by ``load_results``, whatever their format."""

    format: Format
    source: str
    results: RunResults | None = None
    upload: RefstackUpload | None = None
    environment: RunEnvironment | None = None
    #: planned tests the run's Tempest did not have (from a run directory's manifest)
    not_in_tempest: tuple[str, ...] = ()

    def states(self) -> TestStates:
        """Per RefStack name; a RefStack JSON only knows its passed tests.

        Read from a run's output directory, the planned tests its Tempest did
        not have are ``not in tempest``, as in the run's own report.
        """
        if self.results is not None:
            states = self.results.states()
        else:
            assert self.upload is not None
            states = self.upload.states()
        for name in self.not_in_tempest:
            states.setdefault(name, NOT_IN_TEMPEST)
        return states


#: files looked for, in order, when ``load_results`` is given a run's output directory
OUTPUT_DIR_FILES = ("results-extended.json", "results.subunit", "results.json")


def load_results(path: Path | str) -> LoadedResults:
    """Read a RefStack JSON, an extended results file or a subunit stream (v1/v2).

    A directory is taken as a run's output directory (``OUTPUT_DIR_FILES``).
    """
    path = Path(path)
    absent: tuple[str, ...] = ()
    if path.is_dir():
        absent = _not_in_tempest(path / "manifest.json")
        for name in OUTPUT_DIR_FILES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise InputError(
                f"no results in directory '{path}'",
                hint=f"expected one of {', '.join(OUTPUT_DIR_FILES)}",
            )
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read results '{source}': {exc.strerror}",
            hint="give a results.json, results-extended.json or a subunit stream",
        ) from exc
    if not data.strip():
        raise InputError(f"results file '{source}' is empty")
    if data.lstrip()[:1] in (b"{", b"["):
        return replace(_load_json_results(data, source), not_in_tempest=absent)
    version = subunit_version(data)
    if version is None:
        raise InputError(
            f"'{source}' is neither a RefStack JSON, an extended results file nor a subunit stream",
            hint="give a results.json, results-extended.json or a raw subunit stream",
        )
    results = read_subunit(data, source)
    return LoadedResults(
        format=f"subunit-v{version}",  # type: ignore[arg-type]
        source=source,
        results=results,
        not_in_tempest=absent,
    )


def _not_in_tempest(manifest: Path) -> tuple[str, ...]:
    """What a run's manifest says its Tempest did not have (nothing if unreadable)."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    names = data.get("not_in_tempest") if isinstance(data, dict) else None
    return tuple(n for n in names if isinstance(n, str)) if isinstance(names, list) else ()


def _load_json_results(data: bytes, source: str) -> LoadedResults:
    body = load_json(data, source, "results", REFSTACK_HINT)
    if isinstance(body, dict) and "schema" in body:
        extended = read_extended(data, source)
        return LoadedResults(
            format="extended",
            source=source,
            results=extended.results,
            environment=extended.environment,
        )
    return LoadedResults(format="refstack", source=source, upload=read_refstack(data, source))

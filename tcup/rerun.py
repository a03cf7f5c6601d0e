"""``tcup run --rerun DIR``: run again only what did not pass in an earlier run.

An earlier output directory holds everything a second pass needs: its
``manifest.json`` names the guideline (id and sha256), the target and the
add-ons, and its ``results.subunit`` says which tests passed.  A second pass
plans the same guideline, runs only the planned tests that did not pass there
(failed, skipped, or never reported), and merges them into the directory:

* the raw stream of every pass is kept under ``passes/`` (``1.subunit`` is
  the earlier run's ``results.subunit`` as it was);
* ``results.subunit`` becomes the earlier stream without the events of the
  tests run again (and of their failed class fixtures), followed by the new
  pass's stream; a later result replaces an earlier one;
* results, reports and the upload body are then built from it as usual, and
  the manifest lists every pass under ``passes``.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import testtools
from subunit import ByteStreamToStreamResult
from subunit.v2 import StreamResultToBytes

from tcup import manifest as manifest_mod
from tcup.errors import InputError
from tcup.testids import refstack_name

if TYPE_CHECKING:
    from tcup.results import State
    from tcup.run import RunOptions
    from tcup.testlist import TestPlan

PASSES_DIR = "passes"
RESULTS_SUBUNIT = "results.subunit"


@dataclass(frozen=True)
class Earlier:
    """An earlier run's output directory, read for a second pass."""

    out: Path
    manifest: manifest_mod.Manifest
    states: Mapping[str, State]  # per RefStack name, from its results.subunit
    duration_seconds: int


def read_earlier(out: Path) -> Earlier:
    """Read ``out/manifest.json`` and ``out/results.subunit``; clear errors when they are not."""
    from tcup import results

    out = Path(out)
    if not out.is_dir():
        raise InputError(
            f"--rerun '{out}' is not a directory",
            hint="give the output directory (--out) of an earlier tcup run",
        )
    manifest_path = out / manifest_mod.FILENAME
    if not manifest_path.is_file():
        raise InputError(
            f"'{out}' has no {manifest_mod.FILENAME}, so it is not a tcup run's output directory",
            hint="give the output directory (--out) of an earlier tcup run",
        )
    manifest = manifest_mod.read_manifest(manifest_path)
    stream = out / RESULTS_SUBUNIT
    data = stream.read_bytes() if stream.is_file() else b""
    states = results.read_subunit(data, str(stream)).states()
    return Earlier(out, manifest, states, _earlier_duration(out))


def _earlier_duration(out: Path) -> int:
    from tcup import results

    path = out / "results.json"
    try:
        return int(results.read_refstack(path.read_bytes(), str(path)).duration_seconds)
    except (OSError, InputError):
        return 0


def options_for(earlier: Earlier, options: RunOptions) -> RunOptions:
    """The run options of a second pass: the earlier run's guideline, target and add-ons.

    What the user gives on the command line wins (a moved guideline file, say);
    :func:`check_same_plan` then makes sure it is still the same plan.
    """
    m = earlier.manifest
    return replace(
        options,
        guideline=options.guideline or m.guideline_spec or m.guideline,
        target=options.target or m.target,
        add_ons=options.add_ons or tuple(m.add_on_specs or m.add_ons),
        guideline_source=options.guideline_source or m.guideline_source,
        out=earlier.out,
    )


def check_same_plan(earlier: Earlier, test_plan: TestPlan) -> None:
    """The second pass must plan exactly what the first did."""
    m = earlier.manifest
    if test_plan.guideline_id != m.guideline or test_plan.guideline_sha256 != m.guideline_sha256:
        raise InputError(
            f"the guideline found now ({test_plan.guideline_id}, sha256 "
            f"{test_plan.guideline_sha256[:12]}) is not the one of the run in '{earlier.out}' "
            f"({m.guideline}, sha256 {m.guideline_sha256[:12]})",
            hint="give the same guideline file with --guideline, or start a new run",
        )
    if test_plan.target != m.target:
        raise InputError(
            f"the run in '{earlier.out}' was for target {m.target}, not {test_plan.target}",
            hint="drop --target: a rerun keeps the earlier run's target",
        )
    if list(test_plan.add_ons) != list(m.add_ons):
        raise InputError(
            f"the run in '{earlier.out}' had add-ons {', '.join(m.add_ons) or 'none'}, "
            f"not {', '.join(test_plan.add_ons) or 'none'}",
            hint="drop --add-on: a rerun keeps the earlier run's add-ons",
        )


def check_same_cloud(earlier: Earlier, cpid: str) -> None:
    """A second pass against another cloud would mix two clouds' results."""
    if earlier.manifest.cpid and cpid != earlier.manifest.cpid:
        raise InputError(
            f"the run in '{earlier.out}' was against the cloud with cpid {earlier.manifest.cpid} "
            f"({earlier.manifest.auth_url}); these credentials reach cpid {cpid}",
            hint="use the credentials of the earlier run, or start a new run with --out",
        )


def not_passed(load_ids: Iterable[str], states: Mapping[str, State]) -> list[str]:
    """The ids (as listed now) whose test did not pass in the earlier run."""
    return [t for t in load_ids if states.get(refstack_name(t)) != "passed"]


def pass_entry(manifest: manifest_mod.Manifest, **fields: Any) -> dict[str, Any]:
    """One pass as the manifest's ``passes`` list records it."""
    entry = {
        "started": manifest.started,
        "ended": manifest.ended,
        "tests_run": manifest.tests_run,
        "test_list_sha256": manifest.test_list_sha256,
        "credentials_mode": manifest.credentials_mode,
        "exit_status": manifest.exit_status,
        "exit_reason": manifest.exit_reason,
    }
    entry.update(fields)
    return entry


def start_pass(earlier: Earlier) -> tuple[int, Path]:
    """Keep the earlier stream as ``passes/1.subunit`` (once); the new pass's number and stream.

    A pending upload of the earlier results moves to ``passes/<n>-outbox`` so
    that an upload sends the merged results, never the superseded ones.
    """
    passes = earlier.out / PASSES_DIR
    passes.mkdir(exist_ok=True)
    manifest = earlier.manifest
    if not manifest.passes:
        first = passes / "1.subunit"
        stream = earlier.out / RESULTS_SUBUNIT
        if stream.is_file() and not first.exists():
            shutil.copyfile(stream, first)
        manifest.passes.append(pass_entry(manifest, kind="run", subunit=f"{PASSES_DIR}/1.subunit"))
    number = len(manifest.passes) + 1
    outbox = earlier.out / "outbox"
    if outbox.is_dir() and any(outbox.iterdir()):
        outbox.rename(passes / f"{number - 1}-outbox")
    return number, passes / f"{number}.subunit"


def merge_streams(first: bytes, again: bytes, replaced: Iterable[str]) -> bytes:
    """``first`` without the tests in ``replaced`` (test ids), then ``again``.

    A test counts as replaced by its RefStack name, so an id whose attributes
    changed between the passes is still replaced; the failed class fixtures of
    a replaced test's class go too.
    """
    from tcup.results import is_fixture_id

    names = {refstack_name(t) for t in replaced}
    classes = {refstack_name(t).rsplit(".", 1)[0] for t in replaced}

    def drop(test_id: str) -> bool:
        if is_fixture_id(test_id):
            scope = test_id[test_id.find("(") + 1 : test_id.rfind(")")].strip()
            return scope in classes
        return refstack_name(test_id) in names

    out = io.BytesIO()
    if first.strip():
        ByteStreamToStreamResult(io.BytesIO(first), non_subunit_name="stdout").run(
            _Filtered(StreamResultToBytes(out), drop)
        )
    out.write(again)
    return out.getvalue()


class _Filtered(testtools.StreamResult):
    """Passes every event on to ``target`` except those of dropped tests."""

    def __init__(self, target: StreamResultToBytes, drop: Callable[[str], bool]) -> None:
        super().__init__()
        self.target = target
        self.drop = drop

    def status(self, test_id=None, **kwargs) -> None:  # noqa: ANN001, ANN003
        if test_id and self.drop(test_id):
            return
        self.target.status(test_id=test_id, **kwargs)

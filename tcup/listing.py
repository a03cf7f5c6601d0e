"""Which Tempest test ids a run will load: the listing, and the plan matched onto it.

Tempest test ids can depend on ``tempest.conf``: ``AttachVolumeTestJSON.
test_attach_detach_volume`` carries ``,slow`` only when ``[validation]
run_validation`` is on, and a module's ``load_tests`` may add scenarios from
it.  stestr's ``--load-list`` keeps only the ids its own discovery (made with
the run's configuration) prints, so an id listed under another configuration
was silently not run.  Hence the run's listing is made exactly as stestr's
run discovers, with the run's own ``tempest.conf``, and cached by the
installed versions *and* that file (its secret values left out).

``listing_for_plan`` matches the plan onto that listing (by name or alias,
then by ``id-<uuid>`` for tests renamed upstream) and returns exactly the ids
to load and the planned tests this Tempest does not have.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tcup import settings
from tcup.errors import RunError
from tcup.testids import match_uuid, refstack_name
from tcup.testlist import Matched, TestPlan, match_listed

LOG = logging.getLogger(__name__)

TEST_LIST_DIRS = "TCUP_TEST_LIST_DIRS"


def list_tests(
    workspace: Path, cache: Path | None = None, *, conf_name: str | None = None
) -> list[str]:
    """Every test id ``stestr list`` reports in the workspace (with attributes).

    With ``conf_name`` the listing is made with ``workspace/etc/<conf_name>``
    (as ``execute`` runs) and cached under a key that includes that file;
    this is the listing a load list must come from.  Without it, Tempest
    reads ``etc/tempest.conf`` of the workspace if there is one, and the
    cache key holds only the versions: the catalogue of which tests exist,
    whose attributes may differ from a run's.  Read-only directories named in
    ``TCUP_TEST_LIST_DIRS`` (``os.pathsep`` separated) are looked in too: the
    image ships its Tempest's catalogue there (container/seed-test-list.py).
    Discovery costs 3-10 s.
    """
    key = _listing_key(workspace)
    env = None
    if conf_name is not None:
        key += "-" + conf_digest(workspace / "etc" / conf_name)
        env = dict(os.environ)
        env["TEMPEST_CONFIG_DIR"] = str(workspace / "etc")
        env["TEMPEST_CONFIG"] = conf_name
    cache_file = (cache or settings.cache_dir() / "stestr-list") / f"{key}.txt"
    seeded = [d for d in os.environ.get(TEST_LIST_DIRS, "").split(os.pathsep) if d]
    for candidate in [cache_file, *(Path(d) / f"{key}.txt" for d in seeded)]:
        if candidate.is_file():
            ids = candidate.read_text(encoding="utf-8").split()
            if ids:
                LOG.info("test list from %s (%d ids)", candidate, len(ids))
                return ids
    proc = subprocess.run(
        [_stestr(), "list"], cwd=workspace, capture_output=True, text=True, check=False, env=env
    )
    ids = [line.strip() for line in proc.stdout.splitlines() if _is_test_id(line.strip())]
    if proc.returncode != 0 or not ids:
        raise RunError(
            f"'stestr list' in the Tempest workspace {workspace} failed: "
            f"{_tail(proc.stderr or proc.stdout)}",
            hint="a Tempest plugin or test module may not import; run 'stestr list' there to see",
        )
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp")
    tmp.write_text("\n".join(ids) + "\n", encoding="utf-8")
    tmp.replace(cache_file)
    return ids


def _is_test_id(line: str) -> bool:
    return bool(line) and " " not in line and "." in line


def _listing_key(workspace: Path) -> str:
    from importlib import metadata

    parts = [(workspace / ".stestr.conf").read_text(encoding="utf-8", errors="replace")]
    for dist in ("tempest", "stestr"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            parts.append(f"{dist}={metadata.version(dist)}")
    for ep in sorted(metadata.entry_points(group="tempest.test_plugins"), key=lambda e: e.name):
        version = ep.dist.version if ep.dist else "?"
        parts.append(f"{ep.name}={ep.value}@{version}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


_SECRET_OPTION = re.compile(r"^\s*[^=\s]*(password|secret|token)[^=\s]*\s*=", re.IGNORECASE)


def conf_digest(conf: Path) -> str:
    """sha256 of a tempest.conf without its secret values (so it names a cache file)."""
    try:
        lines = conf.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "no-conf"
    kept = [line for line in lines if not _SECRET_OPTION.match(line)]
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()[:20]


def listing_for_plan(
    workspace: Path,
    test_plan: TestPlan,
    *,
    conf_name: str = "tempest.conf",
    cache: Path | None = None,
) -> Matched:
    """The plan matched onto the ids a run with ``workspace/etc/<conf_name>`` will have.

    ``Matched.matched_ids`` are exactly ids of that listing (the load list);
    ``Matched.missing`` the planned tests this Tempest does not have by name,
    alias or idempotent id; ``Matched.renamed`` those found by id only.
    """
    listed = list_tests(Path(workspace), cache, conf_name=conf_name)
    return match_listed(test_plan, listed, warn=False)


def same_tests(
    workspace: Path,
    test_ids: Sequence[str],
    *,
    conf_name: str,
    cache: Path | None = None,
) -> list[str]:
    """``test_ids`` as a run with ``workspace/etc/<conf_name>`` lists them.

    For a second pass under another configuration (the dynamic-credentials
    variant): each id is kept when that listing has it, else replaced by the
    id with the same ``id-<uuid>`` or name there; an id it lacks entirely is
    left out with a warning, never loaded to be skipped in silence.
    """
    listed = list_tests(Path(workspace), cache, conf_name=conf_name)
    exact = set(listed)
    by_uuid: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for test_id in listed:
        uuid = match_uuid(test_id)
        if uuid:
            by_uuid.setdefault(uuid, test_id)
        by_name.setdefault(refstack_name(test_id), test_id)
    found: list[str] = []
    for test_id in test_ids:
        uuid = match_uuid(test_id)
        same = (
            test_id
            if test_id in exact
            else (by_uuid.get(uuid) if uuid else None) or by_name.get(refstack_name(test_id))
        )
        if same is None:
            LOG.warning("%s is not in the tests listed with %s; not run again", test_id, conf_name)
        elif same not in found:
            found.append(same)
    return found


def _tail(text: str, lines: int = 5) -> str:
    kept = [line for line in (text or "").strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept)


def _stestr() -> str:
    here = Path(sys.executable).parent / "stestr"
    return str(here) if here.exists() else "stestr"

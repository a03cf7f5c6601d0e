"""The run's ``manifest.json``: what ran, with what, against what, and how it ended.

A manifest lets anyone reproduce or audit a run: tool versions (tcup, Tempest,
python-tempestconf, stestr, Python), the container image digest when tcup runs
in one, the guideline (id + sha256 of its bytes), target and add-ons, the
sha256 of the exact test list, the cloud's cpid, start/end times and the exit
status.  It never holds a secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tcup.errors import InputError

FORMAT = "tcup.manifest/1"
FILENAME = "manifest.json"
IMAGE_DIGEST_ENV = "TCUP_IMAGE_DIGEST"
_DISTRIBUTIONS = {
    "tcup": "tcup",
    "tempest": "tempest",
    "tempestconf": "python-tempestconf",
    "stestr": "stestr",
}


@dataclass
class Manifest:
    """Everything needed to know what a run was; serialised as ``manifest.json``."""

    guideline: str
    guideline_sha256: str
    target: str
    add_ons: list[str] = field(default_factory=list)
    #: how the guideline and add-ons were named (version, file or URL) and where versions
    #: were looked up, so that ``tcup run --rerun`` finds the same files again
    guideline_spec: str | None = None
    add_on_specs: list[str] = field(default_factory=list)
    guideline_source: str | None = None
    test_list_sha256: str = ""
    tests_planned: int = 0
    tests_run: int = 0
    cpid: str | None = None
    auth_url: str | None = None
    region: str | None = None
    credentials_mode: str | None = None  # "accounts", "auto-accounts", "dynamic" or "user-conf"
    #: tests Tempest skipped on pre-provisioned accounts that ran again with dynamic credentials
    rerun_dynamic: list[str] = field(default_factory=list)
    #: planned tests (guideline names) this Tempest does not have by name, alias or idempotent id
    not_in_tempest: list[str] = field(default_factory=list)
    #: planned tests this Tempest has under another name (same idempotent id): guideline -> Tempest
    renamed: dict[str, str] = field(default_factory=dict)
    #: of ``renamed``, the names with a typo in the guideline (no test can have such a name):
    #: guideline name -> the test Tempest has under the same idempotent id, which ran instead
    guideline_typos: dict[str, str] = field(default_factory=dict)
    #: what the add-on tests left in the cloud (stacks, zones, projects) that tcup could not delete
    leftovers: list[str] = field(default_factory=list)
    #: every pass over the output directory (``tcup run --rerun``), oldest first; empty for one
    passes: list[dict[str, Any]] = field(default_factory=list)
    #: SSH into guests for compute tests: enabled, reason, connect_method, tests that need it
    validation: dict[str, Any] | None = None
    #: tests whose failure detail says a quota was exhausted
    quota_failures: list[str] = field(default_factory=list)
    concurrency: int | None = None
    missing_services: list[str] = field(default_factory=list)
    started: str | None = None
    ended: str | None = None
    exit_status: int | None = None
    exit_reason: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    image_digest: str | None = None
    format: str = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tool_versions() -> dict[str, str]:
    """Installed versions of the tools that shape a run's outcome."""
    found = {"python": platform.python_version()}
    for key, dist in _DISTRIBUTIONS.items():
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[key] = metadata.version(dist)
    return found


def image_digest(environ: Mapping[str, str] = os.environ) -> str | None:
    """The container image digest, set by the image build (``TCUP_IMAGE_DIGEST``)."""
    return environ.get(IMAGE_DIGEST_ENV) or None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_list_sha256(test_ids: Iterable[str]) -> str:
    """sha256 of the test list exactly as written to ``test-list.txt``."""
    return sha256_bytes(test_list_text(test_ids).encode("utf-8"))


def test_list_text(test_ids: Iterable[str]) -> str:
    return "".join(f"{t}\n" for t in test_ids)


def isoformat(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def write_manifest(out: Path, manifest: Manifest) -> Path:
    """Write ``<out>/manifest.json`` atomically (sorted keys, trailing newline)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILENAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n", "utf-8")
    tmp.replace(path)
    return path


def read_manifest(path: Path) -> Manifest:
    """Read a ``manifest.json`` written by :func:`write_manifest`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read manifest '{path}': {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"'{path}' is not a tcup manifest ({FORMAT})")
    known = set(Manifest.__dataclass_fields__)
    return Manifest(**{k: v for k, v in data.items() if k in known})

"""manifest.json: contents, round trip, hashes, versions."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest

from tcup import manifest
from tcup.errors import InputError


def _sample() -> manifest.Manifest:
    ids = ["tempest.a.B.test_x[id-1,smoke]", "tempest.a.B.test_y[id-2]"]
    return manifest.Manifest(
        guideline="2020.06",
        guideline_sha256="ab" * 32,
        target="OpenStack Powered Storage",
        add_ons=["dns.2020.06"],
        test_list_sha256=manifest.test_list_sha256(ids),
        tests_planned=2,
        tests_run=2,
        cpid="f3a407ef32974304a633250aa6e3c2c0",
        started=manifest.isoformat(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        exit_status=0,
        versions=manifest.tool_versions(),
        image_digest=manifest.image_digest({"TCUP_IMAGE_DIGEST": "sha256:" + "c" * 64}),
    )


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    written = manifest.write_manifest(tmp_path, _sample())
    assert written == tmp_path / "manifest.json"
    data = json.loads(written.read_text(encoding="utf-8"))
    assert data["format"] == "tcup.manifest/1"
    assert data["started"] == "2026-01-02T03:04:05+00:00"
    assert data["image_digest"] == "sha256:" + "c" * 64
    assert list(data) == sorted(data)  # stable, diff-friendly
    assert manifest.read_manifest(written) == _sample()


def test_test_list_hash_is_the_hash_of_test_list_txt(tmp_path: Path) -> None:
    ids = ["b[id-2]", "a[id-1]"]
    path = tmp_path / "test-list.txt"
    path.write_text(manifest.test_list_text(ids), encoding="utf-8")
    assert manifest.test_list_sha256(ids) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest.test_list_sha256([]) == hashlib.sha256(b"").hexdigest()


def test_tool_versions_are_the_installed_ones() -> None:
    versions = manifest.tool_versions()
    assert versions["python"] == platform.python_version()
    assert versions["tempest"] == metadata.version("tempest")
    assert versions["tempestconf"] == metadata.version("python-tempestconf")
    assert versions["stestr"] == metadata.version("stestr")


def test_image_digest_only_in_a_container() -> None:
    assert manifest.image_digest({}) is None
    assert manifest.image_digest({"TCUP_IMAGE_DIGEST": ""}) is None


def test_reading_something_else_is_an_input_error(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"cpid": "x"}', encoding="utf-8")
    with pytest.raises(InputError, match="not a tcup manifest"):
        manifest.read_manifest(other)
    with pytest.raises(InputError, match="cannot read manifest"):
        manifest.read_manifest(tmp_path / "absent.json")

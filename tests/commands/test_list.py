"""``tcup list`` and ``tcup guidelines`` through their plain functions and the CLI."""

from __future__ import annotations

import io
import json

import pytest

from tcup.cli import main
from tcup.commands.guidelines import list_guidelines
from tcup.commands.list import list_tests
from tcup.errors import InputError
from tests.interop import require_interop


@pytest.fixture
def interop(monkeypatch, tmp_path):
    monkeypatch.setenv("TCUP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TCUP_CONFIG", str(tmp_path / "none.toml"))
    return str(require_interop())


def test_list_storage_required(interop):
    out = io.StringIO()
    assert list_tests("2020.06", "storage", source=interop, stdout=out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 58 and len(set(lines)) == 58
    assert all(line.startswith("tempest.api.") for line in lines)


def test_list_refstack_format_all_statuses(interop):
    out = io.StringIO()
    statuses = ["required", "advisory", "deprecated", "removed"]
    list_tests(
        "2020.06", "platform", statuses=statuses, include_flagged=True, aliases=True,
        fmt="refstack", source=interop, stdout=out,
    )  # fmt: skip
    assert out.getvalue().count("\n") == 390  # RefStack's 389 newlines + our final one


def test_list_with_add_on_and_default_target(interop):
    out = io.StringIO()
    list_tests("dns.2020.06", source=interop, stdout=out)
    dns_only = out.getvalue().splitlines()
    assert dns_only and all(n.startswith("designate_tempest_plugin.") for n in dns_only)
    out = io.StringIO()
    list_tests("2020.06", "compute", add_ons=["dns.2020.06"], source=interop, stdout=out)
    assert set(dns_only) <= set(out.getvalue().splitlines())


def test_list_unknown_target_raises(interop):
    with pytest.raises(InputError, match="no target 'nope'"):
        list_tests("2020.06", "nope", source=interop, stdout=io.StringIO())


def test_cli_list_and_errors(interop):
    out, err = io.StringIO(), io.StringIO()
    argv = ["list", "--guideline", "2020.06", "--target", "object", "--source", interop]
    assert main([*argv, "--format", "regex"], stdout=out, stderr=err) == 0
    assert out.getvalue().count("\n") == 58 and out.getvalue().startswith("^tempest")
    out, err = io.StringIO(), io.StringIO()
    assert main([*argv[:-4], "--target", "nope", "--source", interop], out, err) == 2
    assert "tcup: error: guideline 2020.06 has no target 'nope'" in err.getvalue()
    assert "hint: valid targets:" in err.getvalue()
    assert out.getvalue() == ""
    err = io.StringIO()
    assert main([*argv, "--status", "required,optional"], io.StringIO(), err) == 2
    assert "unknown capability status 'optional'" in err.getvalue()


def test_cli_list_takes_defaults_from_environment(interop, monkeypatch):
    monkeypatch.setenv("TCUP_GUIDELINE", "2020.06")
    monkeypatch.setenv("TCUP_TARGET", "storage")
    monkeypatch.setenv("TCUP_SOURCE", interop)
    out = io.StringIO()
    assert main(["list"], stdout=out, stderr=io.StringIO()) == 0
    assert out.getvalue().count("\n") == 58


def test_guidelines_text_and_json(interop):
    out = io.StringIO()
    assert list_guidelines(interop, "text", out) == 0
    rows = out.getvalue().splitlines()
    assert rows[0].split() == ["GUIDELINE", "KIND", "STATUS", "SCHEMA", "TARGETS"]
    assert rows[2].split()[:4] == ["2020.06", "platform", "approved", "2.0"]
    assert any(r.split()[:3] == ["dns.2020.06", "add-on", "approved"] for r in rows)
    out = io.StringIO()
    assert main(["guidelines", "--source", interop, "--format", "json"], out, io.StringIO()) == 0
    data = json.loads(out.getvalue())
    first = next(d for d in data if d["name"] == "2015.07")
    assert first["status"] == "superseded" and first["targets"] == ["platform", "compute", "object"]

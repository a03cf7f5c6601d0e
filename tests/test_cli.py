"""tcup.cli: option defaults from config and environment, and one line per error."""

from __future__ import annotations

import errno
import io
from pathlib import Path

import pytest

from tcup import cli
from tcup.commands import list as list_cmd
from tests.interop import require_interop


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return cli.main(list(argv), stdout=out, stderr=err), out.getvalue(), err.getvalue()


@pytest.fixture
def isolated(monkeypatch, tmp_path: Path) -> Path:
    for name in ("TCUP_GUIDELINE", "TCUP_TARGET", "TCUP_SOURCE", "TCUP_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    conf = tmp_path / "tcup.toml"
    monkeypatch.setenv("TCUP_CONFIG", str(conf))
    monkeypatch.setenv("TCUP_CACHE_DIR", str(tmp_path / "cache"))
    return conf


def test_defaults_come_from_file_then_environment_then_command_line(isolated, monkeypatch):
    interop = require_interop()
    guideline = str(interop / "2020.06.json")
    isolated.write_text(f'[tcup]\nguideline = "{guideline}"\ntarget = "compute"\n')
    code, from_file, _ = _main("list")
    assert code == 0
    monkeypatch.setenv("TCUP_TARGET", "storage")
    code, from_env, _ = _main("list")
    assert code == 0 and len(from_env.splitlines()) == 58
    assert len(from_file.splitlines()) > len(from_env.splitlines())  # compute is larger
    code, from_cli, _ = _main("list", "--target", "compute")
    assert code == 0 and from_cli == from_file


def test_a_required_option_missing_everywhere_is_a_usage_error(isolated, capsys):
    code, _, _ = _main("list", "--target", "storage")
    assert code == 2 and "required: --guideline" in capsys.readouterr().err  # argparse's own


def test_an_unknown_option_is_named_with_its_subcommands_usage(isolated, capsys):
    assert _main("run", "--no-such-option")[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tcup run") and "unrecognized arguments: --no-such-option" in err
    assert _main("--no-such-option")[0] == 2
    assert capsys.readouterr().err.startswith("usage: tcup [-h]")


def test_tcup_errors_are_one_line_with_a_hint_and_their_exit_code(isolated):
    code, _, err = _main("list", "--guideline", "2020.06", "--target", "moon", "--source", ".")
    assert code == 2
    assert err.startswith("tcup: error: ") and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("tcup: error")]) == 1


def test_an_environment_failure_is_one_line_and_exit_4(isolated, monkeypatch):
    def full_disk(args, stdout):  # noqa: ANN001
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out/results.subunit")

    monkeypatch.setattr(list_cmd, "run", full_disk)
    code, _, err = _main("list", "--guideline", "x", "--target", "y")
    assert code == 4
    assert err.splitlines()[0] == (
        "tcup: error: No space left on device (/data/out/results.subunit)"
    )
    assert "Traceback" not in err and "kept" in err


def test_no_command_prints_help_and_exits_2(isolated):
    code, out, _ = _main()
    assert code == 2 and "exit codes:" in out and "list" in out

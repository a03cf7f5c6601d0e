"""tcup.commands.check: the argument helpers other commands share."""

from __future__ import annotations

import argparse

import pytest

from tcup.commands import launch, run
from tcup.commands.check import positive_int


def test_positive_int_accepts_counts_and_refuses_the_rest() -> None:
    assert positive_int("1") == 1
    assert positive_int("16") == 16
    for bad in ("0", "-2", "x", "1.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)


@pytest.mark.parametrize("command", [run, launch])
def test_run_and_launch_refuse_a_zero_concurrency(command, capsys) -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--concurrency", "0"])
    assert exc.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err

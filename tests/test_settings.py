"""tcup.settings: defaults < config file < TCUP_* environment (< command line, in test_cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcup import settings
from tcup.errors import InputError


def test_environment_wins_over_the_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "tcup.toml"
    conf.write_text('[tcup]\nguideline = "2019.11"\ntarget = "compute"\nadd-on = ["dns"]\n')
    merged = settings.load_defaults(conf, {"TCUP_TARGET": "storage", "TCUP_CONCURRENCY": "3"})
    assert merged == {
        "guideline": "2019.11",  # file
        "target": "storage",  # environment over file
        "add_on": ["dns"],  # dashes become underscores
        "concurrency": "3",
    }


def test_empty_variables_and_tool_locations_are_not_options() -> None:
    env = {"TCUP_URL": "", "TCUP_CONFIG": "/x.toml", "TCUP_CACHE_DIR": "/c", "OS_CLOUD": "a"}
    assert settings.read_environment(env) == {}


def test_missing_config_file_is_empty_and_malformed_one_is_an_input_error(tmp_path: Path) -> None:
    assert settings.read_config_file(tmp_path / "absent.toml") == {}
    bad = tmp_path / "bad.toml"
    bad.write_text("[tcup\nguideline = 1\n")
    with pytest.raises(InputError, match="cannot read config file") as err:
        settings.read_config_file(bad)
    assert "TOML" in err.value.hint
    not_table = tmp_path / "flat.toml"
    not_table.write_text('tcup = "x"\n')
    with pytest.raises(InputError, match=r"\[tcup\] must be a table"):
        settings.read_config_file(not_table)


def test_config_and_cache_locations_follow_tcup_and_xdg_variables(tmp_path: Path) -> None:
    assert settings.default_config_path({"TCUP_CONFIG": "/etc/t.toml"}) == Path("/etc/t.toml")
    xdg = {"XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_CACHE_HOME": str(tmp_path / "k")}
    assert settings.default_config_path(xdg) == tmp_path / "c" / "tcup" / "tcup.toml"
    assert settings.cache_dir(xdg) == tmp_path / "k" / "tcup"
    assert settings.cache_dir({"TCUP_CACHE_DIR": "/var/tcup"}) == Path("/var/tcup")

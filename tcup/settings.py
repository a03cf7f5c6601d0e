"""Resolve option defaults once: built-in < config file < environment < command line.

The command line is applied by argparse itself; this module supplies the layer
beneath it.  A config file is TOML with one ``[tcup]`` table whose keys are the
option names with dashes or underscores (``guideline``, ``target``,
``concurrency``, ``url`` ...).  Environment variables are ``TCUP_<NAME>``
(``TCUP_GUIDELINE``, ``TCUP_ADD_ON`` ...).  Values from both are strings or
lists; argparse's ``type=`` conversion is applied to them like to typed input.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tcup.errors import InputError

ENV_PREFIX = "TCUP_"


def default_config_path(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the user config file lives unless ``TCUP_CONFIG`` names another."""
    if environ.get("TCUP_CONFIG"):
        return Path(environ["TCUP_CONFIG"])
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tcup" / "tcup.toml"


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The directory for downloaded guidelines and other caches."""
    if environ.get("TCUP_CACHE_DIR"):
        return Path(environ["TCUP_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tcup"


def _normalise(key: str) -> str:
    return key.strip().lower().replace("-", "_")


def read_config_file(path: Path) -> dict[str, Any]:
    """Read the ``[tcup]`` table of a TOML config file; a missing file is empty."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(f"cannot read config file '{path}': {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot read config file '{path}': {exc}",
            hint="it must be TOML with a [tcup] table",
        ) from exc
    table = data.get("tcup", {})
    if not isinstance(table, dict):
        raise InputError(f"config file '{path}': [tcup] must be a table")
    return {_normalise(k): v for k, v in table.items()}


def read_environment(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Collect ``TCUP_*`` variables as option defaults (``TCUP_ADD_ON=a,b`` is a list)."""
    skip = {"config", "cache_dir"}
    values: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or value == "":
            continue
        key = _normalise(name[len(ENV_PREFIX) :])
        if key not in skip:
            values[key] = value
    return values


def load_defaults(
    config_path: Path | None = None, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """Merge config file and environment; the environment wins."""
    merged = read_config_file(config_path or default_config_path(environ))
    merged.update(read_environment(environ))
    return merged

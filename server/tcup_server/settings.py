"""Server configuration, resolved once: defaults < TOML file < ``TCUP_SERVER_*`` environment.

The file is TOML with one ``[server]`` table (``TCUP_SERVER_CONFIG`` or
``--config`` names it).  Every field of :class:`ServerSettings` may be set in
the file by its name and in the environment as ``TCUP_SERVER_<NAME>``
(``TCUP_SERVER_DATABASE_URL``, ``TCUP_SERVER_ALLOW_ANONYMOUS_UPLOAD=false``...).
Unknown keys and unconvertible values are refused with one clear line.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tcup.errors import InputError

ENV_PREFIX = "TCUP_SERVER_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
LOG_LEVELS = ("debug", "info", "warning", "error")


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tcup-server"


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """Everything the server reads from its configuration; secure by default."""

    # Where state lives when not given explicitly (database, artefacts, keys, guidelines).
    data_dir: Path = dataclasses.field(default_factory=_default_data_dir)
    # SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host:port/db
    database_url: str = ""
    # Raw artefacts: "local" (a directory) or "swift" (an OpenStack object store).
    artefact_backend: str = "local"
    artefact_dir: Path | None = None
    swift_cloud: str = ""  # cloud name in clouds.yaml (OS_CLIENT_CONFIG_FILE selects the file)
    swift_container: str = "tcup-artefacts"
    # Base64 of a 32-byte AES key; if empty, the key file under data_dir/keys is used.
    artefact_key: str = dataclasses.field(default="", repr=False)
    keys_dir: Path | None = None
    # Uploads
    allow_anonymous_upload: bool = False
    max_body_bytes: int = 32 * 1024 * 1024
    max_tests: int = 100_000
    default_guideline: str = "2020.06"
    default_target: str = "platform"
    guideline_dir: Path | None = None
    # Responses
    public_url: str = "http://127.0.0.1:8000"
    results_per_page: int = 20
    # Sessions and tokens
    cookie_secure: bool = True
    session_hours: int = 12
    jwt_leeway_seconds: int = 42
    # Failed password logins per (name, client address): this many are free, then the next
    # try waits login_backoff_seconds, doubling per further failure up to the maximum.
    login_free_failures: int = 5
    login_backoff_seconds: int = 15
    login_max_backoff_seconds: int = 900
    # Single sign-on with OpenID Connect (authorization code flow with PKCE); off while
    # oidc_issuer is empty.  Discovery: <oidc_issuer>/.well-known/openid-configuration.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = dataclasses.field(default="", repr=False)
    oidc_redirect_url: str = ""  # empty: <public_url>/login/oidc/callback
    oidc_scopes: str = "openid profile email"
    # Staff are those whose claim oidc_staff_claim (a dotted path for nested claims, e.g.
    # realm_access.roles) is or contains oidc_staff_value; checked again at every login.
    oidc_staff_claim: str = "groups"
    oidc_staff_value: str = "tcup-staff"
    oidc_provider_name: str = ""  # the login button's label; empty: "single sign-on"
    oidc_timeout_seconds: int = 10
    # Local passwords (the login form and /v1/auth/login): a fallback that may be switched
    # off only when single sign-on is configured.
    password_login: bool = True
    # serve
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    # Operations: GET /metrics answers only with "Authorization: Bearer <metrics_token>";
    # empty (the default) turns /metrics off (404).  /health/* need no credentials.
    metrics_token: str = dataclasses.field(default="", repr=False)
    health_timeout_seconds: int = 5  # readiness: longer than this is "not ready"
    log_level: str = "info"  # debug | info | warning | error (JSON lines on stdout)

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    @property
    def resolved_oidc_redirect_url(self) -> str:
        return self.oidc_redirect_url or f"{self.public_url.rstrip('/')}/login/oidc/callback"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tcup-server.db'}"

    @property
    def resolved_artefact_dir(self) -> Path:
        return self.artefact_dir or self.data_dir / "artefacts"

    @property
    def resolved_keys_dir(self) -> Path:
        return self.keys_dir or self.data_dir / "keys"

    @property
    def resolved_guideline_dir(self) -> Path:
        return self.guideline_dir or self.data_dir / "guidelines"


_FIELDS = {f.name: f for f in dataclasses.fields(ServerSettings)}


def _convert(name: str, value: Any, origin: str) -> Any:
    """Convert a TOML or environment value to the field's type, or say what is wrong."""
    kind = str(_FIELDS[name].type)
    if "bool" in kind:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise InputError(f"{origin}: '{name}' must be true or false, not {value!r}")
    if "int" in kind:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InputError(f"{origin}: '{name}' must be an integer, not {value!r}") from None
        if number < 0:
            raise InputError(f"{origin}: '{name}' must not be negative")
        return number
    if "Path" in kind:
        return Path(str(value)).expanduser() if str(value) else None
    if not isinstance(value, str):
        raise InputError(f"{origin}: '{name}' must be a string, not {value!r}")
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    """The ``[server]`` table of a TOML file, keys normalised; a missing file is an error."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"config file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read config file '{path}': {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"cannot read config file '{path}': {exc}", hint="it must be TOML with a [server] table"
        ) from exc
    table = data.get("server", {})
    if not isinstance(table, dict):
        raise InputError(f"config file '{path}': [server] must be a table")
    return {k.strip().lower().replace("-", "_"): v for k, v in table.items()}


def load_settings(
    config_path: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    **overrides: Any,
) -> ServerSettings:
    """Resolve the settings once: defaults < config file < environment < ``overrides``."""
    values: dict[str, Any] = {}
    if config_path is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_path = Path(environ[ENV_PREFIX + "CONFIG"])
    if config_path is not None:
        for key, value in read_config_file(config_path).items():
            if key not in _FIELDS:
                raise InputError(
                    f"config file '{config_path}': unknown setting '{key}'",
                    hint="known settings: " + ", ".join(sorted(_FIELDS)),
                )
            values[key] = _convert(key, value, f"config file '{config_path}'")
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG" or value == "":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in _FIELDS:
            raise InputError(
                f"environment variable {name}: unknown setting '{key}'",
                hint="known settings: " + ", ".join(sorted(_FIELDS)),
            )
        values[key] = _convert(key, value, f"environment variable {name}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("artefact_backend", "local") not in {"local", "swift"}:
        raise InputError(
            f"artefact_backend must be 'local' or 'swift', not {values['artefact_backend']!r}"
        )
    if "log_level" in values:
        values["log_level"] = str(values["log_level"]).strip().lower()
        if values["log_level"] not in LOG_LEVELS:
            raise InputError(
                f"log_level must be one of {', '.join(LOG_LEVELS)}, not {values['log_level']!r}"
            )
    _check_oidc(values)
    if values.get("data_dir") is None:
        values.pop("data_dir", None)
    return ServerSettings(**values)


def _loopback(host: str | None) -> bool:
    return host in {"127.0.0.1", "localhost", "::1"}


def _check_oidc(values: dict[str, Any]) -> None:
    """Single sign-on settings that cannot work are refused at start, with what to set."""
    issuer = str(values.get("oidc_issuer", "")).strip()
    if not issuer:
        if values.get("password_login") is False:
            raise InputError(
                "password_login is off but single sign-on is not configured: nobody could log in",
                hint="set oidc_issuer and oidc_client_id, or leave password_login on",
            )
        return
    parsed = urlsplit(issuer)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname or parsed.query:
        raise InputError(f"oidc_issuer must be an https URL, not {issuer!r}")
    if parsed.scheme == "http" and not _loopback(parsed.hostname):
        raise InputError(
            f"oidc_issuer must use https: {issuer!r}",
            hint="plain http is accepted only for a provider on this machine (127.0.0.1)",
        )
    values["oidc_issuer"] = issuer
    if not str(values.get("oidc_client_id", "")).strip():
        raise InputError("oidc_issuer is set but oidc_client_id is empty")
    scopes = str(values.get("oidc_scopes", ServerSettings.oidc_scopes)).split()
    if "openid" not in scopes:
        raise InputError(f"oidc_scopes must include 'openid', not {' '.join(scopes)!r}")
    if not str(values.get("oidc_staff_claim", "groups")).strip():
        raise InputError("oidc_staff_claim must name a claim (e.g. groups or roles)")
    if values.get("oidc_timeout_seconds") == 0:
        raise InputError("oidc_timeout_seconds must be at least 1")

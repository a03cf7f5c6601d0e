"""The Tempest workspace and its ``tempest.conf``.

A workspace is made once by ``tempest init`` and reused; ``tempest.conf`` is
generated for every run by python-tempestconf (``discover-tempest-config``)
against the cloud, then tcup's fixed overrides and the user's overrides are
applied.  Two credential modes:

* pre-provisioned accounts (``--non-admin --test-accounts FILE``): the default
  whenever the user gives an accounts file; fast and needs no admin rights;
* dynamic credentials (``--create``): when no accounts file is given and the
  credentials have the admin role; Tempest makes a project and user per class;
* accounts tcup made (``--accounts auto``, see :mod:`tcup.accounts`): the
  admin credentials configure Tempest, which then runs with the pool's file;
  :func:`dynamic_variant` writes a second configuration with dynamic
  credentials for the few tests Tempest skips with pre-provisioned accounts.

Nothing is ever downloaded: when the cloud has an image service, tempestconf
gets a local image file (the user's ``--image`` or a tiny generated one)
instead of fetching cirros.

The workspace's ``tempest.conf`` holds passwords; only the redacted copy from
:func:`redact_conf` may leave it.
"""

from __future__ import annotations

import configparser
import importlib.util
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tcup import resources
from tcup.addons import AddOnRun
from tcup.cloud import CloudInfo, Credentials
from tcup.errors import InputError, PreflightError, RunError
from tcup.files import write_private

LOG = logging.getLogger(__name__)

TEMPEST_CONF = Path("etc") / "tempest.conf"
MASK = "***"

#: Option names whose values are secrets, in any section.
_SECRET_KEY = re.compile(r"(^|_)(password|passwd|pass|secret|token|api_key|private_key)$", re.I)


@dataclass(frozen=True)
class ConfigureOptions:
    """How to build ``tempest.conf``; every path is the user's own file."""

    accounts: Path | None = None
    accounts_made: bool = False  # ``accounts`` is a pool tcup made with these admin credentials
    image: Path | str | None = None  # a file, or resources.GENERATE
    overrides: Path | None = None  # INI merged section by section
    compute: resources.ComputeSetup | None = None  # image, flavors, networks, validation
    tempest_conf: Path | None = None  # used whole instead of generating one
    extra: Sequence[tuple[str, str, str]] = field(default_factory=tuple)  # (section, key, value)
    add_ons: AddOnRun | None = None  # DNS and Orchestration settings (tcup.addons)


@dataclass(frozen=True)
class Configured:
    """A ready workspace."""

    workspace: Path
    conf: Path
    mode: str  # "accounts", "auto-accounts", "dynamic" or "user-conf"
    secrets: tuple[str, ...] = field(default=(), repr=False)


def _tool(name: str) -> str:
    """A console script of this Python environment, else from PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise RunError(
            f"'{name}' is not installed",
            hint="install tcup with its Tempest extra: pip install 'tcup[tempest]'",
        )
    return found


def _tempest_dir() -> Path | None:
    """Where the Tempest this Python runs is installed (without importing it)."""
    spec = importlib.util.find_spec("tempest")
    return Path(spec.origin).parent if spec and spec.origin else None


def _repoint_workspace(conf: Path) -> None:
    """Point a reused workspace's ``.stestr.conf`` at the Tempest installed here.

    ``tempest init`` writes absolute paths to the Tempest it ran from; a cached
    workspace made by another virtualenv (another checkout, an upgraded
    Tempest) would otherwise discover tests from that other installation, and
    run none of ours.
    """
    tempest_dir = _tempest_dir()
    if tempest_dir is None:
        return
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(conf, encoding="utf-8")
    wanted = {"test_path": str(tempest_dir / "test_discover"), "top_dir": str(tempest_dir)}
    if all(parser.get("DEFAULT", k, fallback=None) == v for k, v in wanted.items()):
        return
    LOG.info("pointing the Tempest workspace %s at %s", conf.parent, tempest_dir)
    for key, value in wanted.items():
        parser.set("DEFAULT", key, value)
    with conf.open("w", encoding="utf-8") as handle:
        parser.write(handle)


#: where ``tempest init`` records the workspace (its ``--workspace-path``)
WORKSPACE_REGISTRY = ".tempest-workspace.yaml"


def init_workspace(workspace: Path) -> Path:
    """Create a Tempest workspace with ``tempest init`` unless it already exists."""
    workspace = workspace.resolve()
    if (workspace / ".stestr.conf").is_file():
        _repoint_workspace(workspace / ".stestr.conf")
        return workspace
    workspace.parent.mkdir(parents=True, exist_ok=True)
    # Tempest's registry of workspaces, kept inside this one: a workspace
    # deleted by hand takes its entry with it ("A workspace already exists").
    registry = workspace / WORKSPACE_REGISTRY
    registry.unlink(missing_ok=True)  # left by an init that did not finish
    if workspace.is_dir() and any(workspace.iterdir()):
        raise InputError(
            f"workspace {workspace} is not empty and is no Tempest workspace (no .stestr.conf)",
            hint="give --workspace a new or empty directory, or delete this one",
        )
    cmd = [_tool("tempest"), "init", "--workspace-path", str(registry), str(workspace)]
    LOG.info("creating Tempest workspace %s", workspace)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not (workspace / ".stestr.conf").is_file():
        raise RunError(
            f"'tempest init {workspace}' failed: {_tail(proc.stderr or proc.stdout)}",
            hint="check that the directory is writable and Tempest is installed",
        )
    os.chmod(workspace, 0o700)
    return workspace


def choose_mode(info: CloudInfo, accounts: Path | None) -> str:
    """Pre-provisioned accounts when given, else dynamic credentials when admin."""
    if accounts is not None:
        return "accounts"
    if info.is_admin:
        return "dynamic"
    raise InputError(
        f"user '{info.user}' has no admin role, so Tempest needs pre-provisioned accounts",
        hint="pass --accounts FILE (a Tempest accounts.yaml), or run with admin credentials "
        "so that Tempest creates its own users",
    )


def configure(
    workspace: Path, creds: Credentials, info: CloudInfo, options: ConfigureOptions
) -> Configured:
    """Write ``<workspace>/etc/tempest.conf`` for this cloud and return the result."""
    workspace = init_workspace(workspace)
    conf = workspace / TEMPEST_CONF
    conf.parent.mkdir(parents=True, exist_ok=True)
    secrets = _known_secrets(creds, options.accounts)
    if options.tempest_conf is not None:
        _copy_user_conf(options.tempest_conf, conf)
        return Configured(workspace, conf, "user-conf", secrets)

    mode = choose_mode(info, options.accounts)
    cmd = [*tempestconf_command(info), *creds.tempestconf_args()]
    cmd += ["--out", str(conf), "--no-default-deployer"]
    if mode == "accounts" and options.accounts_made:
        mode = "auto-accounts"  # admin credentials for tempestconf, the pool for the tests
        # tempestconf only writes the file's path into tempest.conf: tcup may still be
        # making the pool while it runs
        accounts = Path(options.accounts).resolve()  # type: ignore[arg-type]
        # --create with --test-accounts makes flavors, never users
        cmd += ["--create", "--test-accounts", str(accounts)]
    elif mode == "accounts":
        accounts = _check_file(options.accounts, "accounts file", "--accounts")
        cmd += ["--non-admin", "--test-accounts", str(accounts)]
    else:
        cmd.append("--create")
    if options.compute is not None:
        cmd += options.compute.tempestconf_args(workspace)
    elif _configured(info, "image"):
        image = resources.local_image(options.image or resources.GENERATE, workspace)
        cmd += ["--image", str(image.path), "--image-disk-format", image.disk_format]
    fixed = tcup_overrides(workspace, info)
    if options.compute is not None:
        fixed += options.compute.overrides(mode)
    for section, key, value in fixed:
        cmd += [f"{section}.{key}", value]
    LOG.info("generating tempest.conf with python-tempestconf (%s credentials)", mode)
    log_path = workspace / "tempestconf.log"
    env = tempestconf_env(os.environ)
    env.setdefault("HOME", str(workspace))
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(
            cmd, cwd=workspace, stdout=log, stderr=subprocess.STDOUT, env=env, check=False
        )
    LOG.info(
        "python-tempestconf ended in %.1f s (exit %d)", time.monotonic() - started, proc.returncode
    )
    if proc.returncode != 0 or not conf.is_file():
        detail = redact_text(_tail(log_path.read_text(errors="replace")), secrets)
        raise PreflightError(
            f"python-tempestconf could not configure Tempest for {info.auth_url}: {detail}",
            hint=f"see {log_path} (it may hold secrets; it stays in the workspace)",
        )
    os.chmod(conf, 0o600)
    _sort_extension_lists(conf)
    if options.add_ons is not None:
        from tcup.cloud import connection

        values = options.add_ons.settings(connection(creds), info, _sections(conf))
        merge_overrides(conf, None, values)
        secrets += options.add_ons.secrets
    if options.overrides is not None or options.extra:
        merge_overrides(conf, options.overrides, options.extra)
    if options.compute is not None:
        check_flavors(conf, creds, options.compute.image)
    return Configured(workspace, conf, mode, secrets)


_EXTENSIONS = re.compile(r"^(\s*\w*api_extensions\s*=\s*)(.*?)\s*$")


def _sort_extension_lists(conf: Path) -> None:
    """Sort the ``api_extensions`` lists tempestconf writes in a random (set) order.

    The same cloud then gives the same tempest.conf byte for byte, so runs can
    be compared and the test listing made with it stays cached.
    """
    lines = conf.read_text(encoding="utf-8").splitlines(keepends=True)
    changed = False
    for index, line in enumerate(lines):
        found = _EXTENSIONS.match(line)
        if found and "," in found.group(2):
            names = sorted(n.strip() for n in found.group(2).split(",") if n.strip())
            sorted_line = found.group(1) + ",".join(names) + "\n"
            changed = changed or sorted_line != line
            lines[index] = sorted_line
    if changed:
        write_private(conf, "".join(lines).encode("utf-8"))


def check_flavors(conf: Path, creds: Credentials, image: resources.Image) -> None:
    """The flavors in ``conf`` must hold the image (pre-flight error otherwise)."""
    from tcup.cloud import connection

    parser = _parser()
    parser.read(conf, encoding="utf-8")
    ids = [parser.get("compute", k, fallback="") for k in ("flavor_ref", "flavor_ref_alt")]
    resources.check_flavors(connection(creds), image, ids)


DYNAMIC_CONF = "tempest-dynamic.conf"


def dynamic_variant(configured: Configured, creds: Credentials) -> Path | None:
    """``etc/tempest-dynamic.conf``: the same configuration with dynamic credentials.

    Only for a run on accounts tcup made (the credentials are admin); ``None``
    when the credentials are not a user name and password, which Tempest's
    dynamic credentials need.
    """
    auth = (creds.region.config.get("auth") or {}) if creds.region is not None else {}
    username, password = auth.get("username"), auth.get("password")
    if configured.mode != "auto-accounts" or not username or not password:
        return None
    parser = _parser()
    parser.read(configured.conf, encoding="utf-8")
    if not parser.has_section("auth"):
        parser.add_section("auth")
    parser.remove_option("auth", "test_accounts_file")
    values = {
        "use_dynamic_credentials": "True",
        "admin_username": username,
        "admin_password": password,
        "admin_project_name": auth.get("project_name") or creds.project or "",
        "admin_domain_name": creds.user_domain or "Default",
        "admin_user_domain_name": creds.user_domain or "Default",
        "admin_project_domain_name": creds.project_domain or creds.user_domain or "Default",
    }
    for key, value in values.items():
        parser.set("auth", key, value)
    text = io.StringIO()
    parser.write(text)
    return write_private(configured.conf.with_name(DYNAMIC_CONF), text.getvalue().encode())


def _configured(info: CloudInfo, service: str) -> bool:
    """``service`` is in the catalog and Tempest is configured for it."""
    from tcup.cloud import service_aliases, unneeded_types

    unneeded = set(unneeded_types(info.required, info.services))
    return info.has_service(service) and not unneeded.intersection(service_aliases(service))


def tempestconf_command(info: CloudInfo) -> list[str]:
    """:mod:`tcup.tempestconf` (python-tempestconf hiding some catalog types, and
    quicker to find its own service classes), or ``discover-tempest-config``
    itself when it belongs to another Python and nothing is hidden.

    Hidden are the endpoints that do not answer, the types that have
    endpoints only in other regions (python-tempestconf finds services in
    Keystone's service list, which knows no regions, and would configure them
    with another region's endpoint), and the :func:`tcup.cloud.unneeded_types`.
    """
    from tcup.cloud import unneeded_types

    tool = _tool("discover-tempest-config")
    unneeded = unneeded_types(info.required, info.services)
    hidden = sorted({*info.unreachable, *info.other_regions, *unneeded})
    if not hidden and importlib.util.find_spec("config_tempest") is None:
        return [tool]
    from tcup.tempestconf import SKIP_OPTION

    if unneeded:
        LOG.info("configuring Tempest without %s (no planned test uses it)", ", ".join(unneeded))

    if info.unreachable:
        LOG.info("configuring Tempest without %s (no answer)", ", ".join(sorted(info.unreachable)))
    if info.other_regions:
        LOG.info(
            "configuring Tempest without %s (not in region %s)",
            ", ".join(info.other_regions),
            info.region,
        )
    skip = [arg for stype in hidden for arg in (SKIP_OPTION, stype)]
    return [sys.executable, "-m", "tcup.tempestconf", *skip, "--"]


_PATH_VARS = ("OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE", "OS_CACERT", "OS_CERT", "OS_KEY")


def tempestconf_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for tempestconf, which runs in the workspace: paths made absolute."""
    env = dict(environ)
    for name in _PATH_VARS:
        if env.get(name) and not os.path.isabs(env[name]):
            env[name] = os.path.abspath(env[name])
    return env


def tcup_overrides(workspace: Path, info: CloudInfo) -> list[tuple[str, str, str]]:
    """Fixed settings tcup always wants; user overrides are applied after these."""
    values = [("oslo-concurrency", "lock_path", str(workspace / "tempest_lock"))]
    if info.region:
        values.append(("identity", "region", info.region))
    if info.has_service("object-store"):
        values += [
            ("object-storage", "reseller_admin_role", "ResellerAdmin"),
            ("object-storage", "operator_role", "member"),
        ]
    if _configured(info, "image"):
        values.append(("image-feature-enabled", "image_format_enforcement", "False"))
    return values


def merge_overrides(
    conf: Path, overrides: Path | None, extra: Iterable[tuple[str, str, str]] = ()
) -> None:
    """Merge an INI file (and extra triples) into ``conf``, section by section."""
    parser = _parser()
    parser.read(conf, encoding="utf-8")
    if overrides is not None:
        user = _parser()
        path = _check_file(overrides, "Tempest overrides file", "--tempest-overrides")
        try:
            user.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise InputError(
                f"cannot read Tempest overrides '{path}': {exc.message}",
                hint="it must be INI like tempest.conf: [section] then key = value",
            ) from exc
        for key, value in user.defaults().items():
            parser.set("DEFAULT", key, value)
        for section in user.sections():
            if not parser.has_section(section):
                parser.add_section(section)
            for key in user.options(section):
                if key in user.defaults() and user.get(section, key) == user.defaults()[key]:
                    continue
                parser.set(section, key, user.get(section, key, raw=True))
    for section, key, value in extra:
        if section != "DEFAULT" and not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, key, value)
    with open(conf, "w", encoding="utf-8") as fh:
        parser.write(fh)


def redact_conf(path: Path, secrets: Iterable[str] = ()) -> str:
    """``tempest.conf`` as text with every secret masked; safe to write anywhere."""
    parser = _parser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise RunError(f"cannot read '{path}' for redaction: {exc}") from exc
    for section in ["DEFAULT", *parser.sections()]:
        items = parser.defaults() if section == "DEFAULT" else parser[section]
        for key in list(items):
            if section != "DEFAULT" and key in parser.defaults():
                continue
            if _SECRET_KEY.search(key) and items[key]:
                parser.set(section, key, MASK)
    buf = io.StringIO()
    parser.write(buf)
    return redact_text(buf.getvalue(), secrets)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Mask every occurrence of known secret values (longest first)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _known_secrets(creds: Credentials, accounts: Path | None) -> tuple[str, ...]:
    found: list[str] = []
    auth = creds.region.config.get("auth") or {} if creds.region is not None else {}
    for key, value in auth.items():
        if _SECRET_KEY.search(key) and isinstance(value, str):
            found.append(value)
    if accounts is not None and accounts.is_file():
        import yaml

        try:
            entries = yaml.safe_load(accounts.read_text(encoding="utf-8")) or []
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot read accounts file '{accounts}': {exc}",
                hint="it must be a Tempest accounts.yaml (a YAML list of accounts)",
            ) from exc
        if not isinstance(entries, list):
            raise InputError(
                f"accounts file '{accounts}' is not a YAML list of accounts",
                hint="see Tempest's etc/accounts.yaml.sample",
            )
        for entry in entries:
            if isinstance(entry, dict):
                found += [str(v) for k, v in entry.items() if _SECRET_KEY.search(str(k)) and v]
    return tuple(found)


def _copy_user_conf(source: Path, dest: Path) -> None:
    source = _check_file(source, "tempest.conf", "--tempest-conf")
    try:
        _parser().read(source, encoding="utf-8")
    except configparser.Error as exc:
        raise InputError(f"cannot read tempest.conf '{source}': {exc}") from exc
    if source.resolve() != dest.resolve():
        shutil.copyfile(source, dest)
        os.chmod(dest, 0o600)


def _check_file(path: Path | None, what: str, option: str) -> Path:
    if path is None or not Path(path).is_file():
        raise InputError(
            f"{what} '{path}' does not exist", hint=f"check the path given to {option}"
        )
    return Path(path).resolve()


def _sections(conf: Path) -> dict[str, dict[str, str]]:
    """``conf`` as sections of options (the values tempestconf wrote)."""
    parser = _parser()
    parser.read(conf, encoding="utf-8")
    return {name: dict(parser.items(name)) for name in parser.sections()}


def _parser() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


def _tail(text: str, lines: int = 5) -> str:
    kept = [line for line in (text or "").strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "no output"

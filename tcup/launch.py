"""Host side of the container: run ``tcup run`` in the tcup image through the Docker SDK.

``launch`` assembles one container (``container_spec``): the image's
``tcup run`` with the caller's options, the caller's ``OS_*`` variables passed
in the container's environment (never on a command line, never logged),
clouds.yaml, the signing key and any other input file mounted read-only, and
the output directory mounted read-write and written as the caller's uid:gid.
The container uses the host's network, so a cloud on loopback or behind a VPN
is reachable.  Its output is streamed live; its exit code is returned; it is
removed on exit and on Ctrl-C (after a SIGINT that lets ``tcup run`` keep its
partial results).
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tcup.accounts import AUTO
from tcup.errors import InputError, PreflightError
from tcup.resources import GENERATE

LOG = logging.getLogger(__name__)

DEFAULT_IMAGE = "tcup:latest"
OUT_MOUNT = "/data/out"
KEY_MOUNT = "/run/secrets/tcup-key"
CLOUDS_DIR = "/etc/openstack"
INPUT_DIR = "/run/tcup/in"
STOP_GRACE_SECONDS = 30

# OS_* variables that name host files: mounted, and rewritten to the mount point.
_OS_FILE_VARS = ("OS_CACERT", "OS_CERT", "OS_KEY")
# OS_* variables that only make sense on the host (the container gets its own).
_OS_HOST_ONLY = ("OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE")
_CLOUDS_NAMES = ("clouds.yaml", "clouds.yml")

ENGINE_HINT = (
    "start the Docker engine: tools/docker/engine-up in a tcup checkout, or "
    "'sudo systemctl start docker'; DOCKER_HOST selects another engine"
)


@dataclass(frozen=True)
class LaunchOptions:
    """What ``tcup launch`` was asked to do; paths are host paths."""

    image: str = DEFAULT_IMAGE
    out: Path = Path("tcup-out")
    guideline: str | None = None
    target: str | None = None
    add_ons: tuple[str, ...] = ()
    guideline_source: str | None = None
    url: str | None = None
    concurrency: int | None = None
    key: Path | None = None
    os_cloud: str | None = None
    clouds_yaml: Path | None = None
    accounts: Path | None = None
    auto_accounts: bool = False
    os_image: str | None = None  # --image of tcup run: a host file (mounted) or "generate"
    validation: str | None = None
    rerun: Path | None = None  # an earlier output directory, mounted as the output
    run_args: tuple[str, ...] = ()  # given after `--`: passed to `tcup run` unchanged


@dataclass
class ContainerSpec:
    """One container, ready for ``docker.containers.create``; ``environment`` holds secrets."""

    image: str
    command: list[str]
    environment: dict[str, str] = field(repr=False)
    volumes: dict[str, dict[str, str]]
    user: str
    network_mode: str = "host"
    working_dir: str = "/data"

    def describe(self) -> str:
        """A loggable summary: mounts and variable names, never values."""
        mounts = ", ".join(f"{h} -> {v['bind']} ({v['mode']})" for h, v in self.volumes.items())
        names = ", ".join(sorted(self.environment))
        return f"image {self.image}; user {self.user}; mounts: {mounts}; environment: {names}"


class _Mounts:
    """Read-only input mounts under one directory, one per host path."""

    def __init__(self) -> None:
        self.volumes: dict[str, dict[str, str]] = {}

    def add(self, host: Path, bind: str, mode: str = "ro") -> str:
        resolved = str(host.resolve())
        existing = self.volumes.get(resolved)
        if existing is not None:
            return existing["bind"]
        self.volumes[resolved] = {"bind": bind, "mode": mode}
        return bind

    def input_file(self, host: Path, role: str, what: str) -> str:
        _require_readable(host, what)
        return self.add(host, f"{INPUT_DIR}/{role}/{host.name}")


def _require_readable(path: Path, what: str) -> None:
    if not path.exists():
        raise InputError(f"{what} '{path}' does not exist", hint="check the path")
    if path.is_file():
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise InputError(
                f"cannot read {what} '{path}': {exc.strerror}",
                hint="make it readable by your user (the container runs as you)",
            ) from exc
    elif not os.access(path, os.R_OK | os.X_OK):
        raise InputError(f"cannot read {what} '{path}'", hint="make it readable by your user")


def _prepare_out(out: Path) -> Path:
    """Create the output directory as the caller and make sure it is writable."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create the output directory '{out}': {exc.strerror}",
            hint="choose another directory with --out",
        ) from exc
    if not out.is_dir() or not os.access(out, os.W_OK | os.X_OK):
        raise InputError(
            f"output directory '{out}' is not writable",
            hint="choose another directory with --out, or fix its permissions",
        )
    return out.resolve()


def find_clouds_yaml(
    explicit: Path | None, environ: Mapping[str, str], cwd: Path | None = None
) -> Path | None:
    """The clouds.yaml openstacksdk would read: explicit, OS_CLIENT_CONFIG_FILE, usual dirs."""
    if explicit is not None:
        return explicit
    if environ.get("OS_CLIENT_CONFIG_FILE"):
        return Path(environ["OS_CLIENT_CONFIG_FILE"])
    home = Path(environ.get("HOME") or Path.home())
    config_home = Path(environ.get("XDG_CONFIG_HOME") or home / ".config")
    for directory in (cwd or Path.cwd(), config_home / "openstack", Path("/etc/openstack")):
        for name in _CLOUDS_NAMES:
            if (directory / name).is_file():
                return directory / name
    return None


def _check_cloud_name(clouds_yaml: Path, cloud: str) -> None:
    import yaml

    try:
        data = yaml.safe_load(clouds_yaml.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(
            f"cannot read clouds.yaml '{clouds_yaml}': {exc}", hint="is it a clouds.yaml file?"
        ) from exc
    clouds = data.get("clouds") if isinstance(data, dict) else None
    if not isinstance(clouds, dict) or cloud not in clouds:
        known = ", ".join(sorted(clouds)) if isinstance(clouds, dict) else "none"
        raise InputError(
            f"cloud '{cloud}' is not in '{clouds_yaml}' (clouds there: {known})",
            hint="check --os-cloud / OS_CLOUD, or name the file with --clouds-yaml",
        )


def container_spec(
    options: LaunchOptions,
    environ: Mapping[str, str] | None = None,
    uid: int | None = None,
    gid: int | None = None,
    cwd: Path | None = None,
) -> ContainerSpec:
    """Check the inputs and assemble the container: command, environment, mounts, user."""
    env_in = dict(os.environ if environ is None else environ)
    mounts = _Mounts()
    command = ["tcup", "run"]
    environment: dict[str, str] = {}

    cloud = options.os_cloud or env_in.get("OS_CLOUD") or None
    if cloud is None and not env_in.get("OS_AUTH_URL"):
        raise PreflightError(
            "no OpenStack credentials to pass to the container",
            hint="source your openrc (the OS_* variables) or pass --os-cloud NAME "
            "(a cloud in clouds.yaml)",
        )
    for name, value in env_in.items():
        if name.startswith("OS_") and name not in _OS_HOST_ONLY and name not in _OS_FILE_VARS:
            environment[name] = value
    for name in _OS_FILE_VARS:
        if env_in.get(name):
            role = name[3:].lower()
            environment[name] = mounts.input_file(Path(env_in[name]), role, f"{name} file")
    if cloud is not None:
        clouds_yaml = find_clouds_yaml(options.clouds_yaml, env_in, cwd)
        if clouds_yaml is None:
            raise InputError(
                f"cloud '{cloud}' was asked for but no clouds.yaml was found",
                hint="put it in ~/.config/openstack/clouds.yaml or name it with --clouds-yaml",
            )
        _require_readable(clouds_yaml, "clouds.yaml")
        _check_cloud_name(clouds_yaml, cloud)
        environment["OS_CLIENT_CONFIG_FILE"] = mounts.add(clouds_yaml, f"{CLOUDS_DIR}/clouds.yaml")
        secure = clouds_yaml.with_name("secure.yaml")
        if secure.is_file():
            _require_readable(secure, "secure.yaml")
            environment["OS_CLIENT_SECURE_FILE"] = mounts.add(secure, f"{CLOUDS_DIR}/secure.yaml")
        environment["OS_CLOUD"] = cloud
        command += ["--os-cloud", cloud]

    if options.guideline:
        command += ["--guideline", _maybe_file(mounts, options.guideline, "guideline")]
    if options.target:
        command += ["--target", options.target]
    for add_on in options.add_ons:
        command += ["--add-on", _maybe_file(mounts, add_on, "add-on")]
    if options.guideline_source:
        command += [
            "--guideline-source",
            _maybe_file(mounts, options.guideline_source, "guideline-source"),
        ]
    if options.accounts is not None:
        command += ["--accounts", mounts.input_file(options.accounts, "accounts", "accounts file")]
    elif options.auto_accounts:
        command += ["--accounts", AUTO]
    if options.concurrency is not None:
        command += ["--concurrency", str(options.concurrency)]
    if options.os_image == GENERATE:
        command += ["--image", GENERATE]
    elif options.os_image:
        command += ["--image", mounts.input_file(Path(options.os_image), "image", "image file")]
    if options.validation:
        command += ["--validation", options.validation]
    if options.url:
        command += ["--url", options.url]
    if options.key is not None:
        _require_readable(options.key, "signing key")
        if not options.key.is_file():
            raise InputError(f"signing key '{options.key}' is not a file")
        command += ["--key", mounts.add(options.key, KEY_MOUNT)]

    if options.rerun is not None:
        if not (options.rerun / "manifest.json").is_file():
            raise InputError(
                f"'{options.rerun}' has no manifest.json, so it is not a tcup run's "
                "output directory",
                hint="give the output directory (--out) of an earlier tcup run",
            )
        out = _prepare_out(options.rerun)
        command += ["--rerun", OUT_MOUNT]
    else:
        out = _prepare_out(options.out)
    mounts.add(out, OUT_MOUNT, mode="rw")
    command += ["--out", OUT_MOUNT]
    command += list(options.run_args)

    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    return ContainerSpec(
        image=options.image,
        command=command,
        environment=environment,
        volumes=mounts.volumes,
        user=f"{uid}:{gid}",
    )


def _maybe_file(mounts: _Mounts, value: str, role: str) -> str:
    """A value that names a local file or directory is mounted; a name or URL passes as is."""
    if "://" in value:
        return value
    path = Path(value).expanduser()
    if not path.exists():
        return value
    if path.is_dir():
        _require_readable(path, role)
        return mounts.add(path, f"{INPUT_DIR}/{role}")
    return mounts.input_file(path, role, role)


def docker_client() -> Any:
    """A client for the engine of the environment (DOCKER_HOST or the local socket)."""
    try:
        import docker
    except ImportError as exc:
        raise PreflightError(
            "tcup launch needs the Docker SDK for Python",
            hint="pip install 'tcup[launch]'",
        ) from exc
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise PreflightError(f"cannot reach the Docker engine: {exc}", hint=ENGINE_HINT) from exc
    return client


def _image_id(client: Any, image: str) -> str:
    import docker

    try:
        return str(client.images.get(image).id)
    except docker.errors.ImageNotFound as exc:
        raise PreflightError(
            f"image '{image}' is not in the Docker engine",
            hint="build it with 'make image' (container/build), or load or pull it, "
            "or name another with --container-image",
        ) from exc
    except docker.errors.DockerException as exc:
        raise PreflightError(f"cannot inspect image '{image}': {exc}", hint=ENGINE_HINT) from exc


def launch(
    options: LaunchOptions,
    stdout: TextIO,
    client: Any = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run ``tcup run`` in the image; stream its output; return its exit code."""
    spec = container_spec(options, environ)
    if client is None:
        client = docker_client()
    spec.environment["TCUP_IMAGE_DIGEST"] = _image_id(client, spec.image)
    LOG.info("launching: %s", spec.describe())
    import docker

    try:
        container = client.containers.create(
            spec.image,
            spec.command,
            environment=spec.environment,
            volumes=spec.volumes,
            user=spec.user,
            network_mode=spec.network_mode,
            working_dir=spec.working_dir,
            init=True,
            tty=_isatty(stdout),
            labels={"tcup.launch": "1"},
        )
    except docker.errors.DockerException as exc:
        raise PreflightError(f"cannot create the container: {exc}", hint=ENGINE_HINT) from exc
    try:
        container.start()
        _stream(container.logs(stream=True, follow=True), stdout)
        status = container.wait()
        return int(status.get("StatusCode", 1))
    except KeyboardInterrupt:
        _interrupt(container)
        raise
    finally:
        _remove(container)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _stream(chunks: Sequence[bytes] | Any, stdout: TextIO) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in chunks:
        text = decoder.decode(chunk)
        if text:
            stdout.write(text)
            stdout.flush()
    tail = decoder.decode(b"", final=True)
    if tail:
        stdout.write(tail)
        stdout.flush()


def _interrupt(container: Any) -> None:
    """Ctrl-C: let ``tcup run`` stop cleanly (it keeps partial results), then give up."""
    import docker

    LOG.warning("interrupted: stopping the container (up to %d s)", STOP_GRACE_SECONDS)
    with contextlib.suppress(docker.errors.DockerException):
        container.kill(signal="SIGINT")
    with contextlib.suppress(Exception):
        container.wait(timeout=STOP_GRACE_SECONDS)


def _remove(container: Any) -> None:
    import docker

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.DockerException as exc:
        LOG.warning("could not remove container %s: %s", getattr(container, "id", "?"), exc)

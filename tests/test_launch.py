"""tcup.launch: container assembly (unit, with a fake Docker client) and a real-engine run."""

from __future__ import annotations

import io
import os
from pathlib import Path

import docker
import pytest

from tcup import cli, launch
from tcup.errors import InputError, PreflightError
from tcup.launch import KEY_MOUNT, OUT_MOUNT, LaunchOptions

REPO = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-Passw0rd"
OPENRC = {
    "OS_AUTH_URL": "http://127.0.0.1:5000/v3",
    "OS_USERNAME": "demo",
    "OS_PASSWORD": SECRET,
    "OS_PROJECT_NAME": "demo",
    "OS_USER_DOMAIN_NAME": "Default",
    "OS_PROJECT_DOMAIN_NAME": "Default",
    "HOME": "/nonexistent-home",
    "PATH": "/usr/bin",
}


# ------------------------------------------------------------------ fakes


class FakeContainer:
    def __init__(self, chunks: list[bytes], status: int = 0, interrupt: bool = False) -> None:
        self.chunks = chunks
        self.status = status
        self.interrupt = interrupt
        self.calls: list[str] = []
        self.killed: list[str] = []
        self.id = "c0ffee"

    def start(self) -> None:
        self.calls.append("start")

    def logs(self, stream: bool, follow: bool):  # noqa: ANN201
        assert stream and follow
        yield from self.chunks
        if self.interrupt:
            raise KeyboardInterrupt

    def wait(self, timeout: float | None = None) -> dict:
        self.calls.append("wait")
        return {"StatusCode": self.status}

    def kill(self, signal: str) -> None:
        self.killed.append(signal)

    def remove(self, force: bool = False) -> None:
        self.calls.append(f"remove(force={force})")


class FakeImages:
    def __init__(self, known: dict[str, str]) -> None:
        self.known = known

    def get(self, name: str):  # noqa: ANN201
        if name not in self.known:
            raise docker.errors.ImageNotFound(f"No such image: {name}")
        return type("Image", (), {"id": self.known[name]})()


class FakeContainers:
    def __init__(self, container: FakeContainer) -> None:
        self.container = container
        self.created: list[tuple[str, list[str], dict]] = []

    def create(self, image: str, command: list[str], **kwargs) -> FakeContainer:  # noqa: ANN003
        self.created.append((image, command, kwargs))
        return self.container


class FakeClient:
    def __init__(self, container: FakeContainer, images: dict[str, str] | None = None) -> None:
        self.images = FakeImages(images if images is not None else {"tcup:latest": "sha256:abc"})
        self.containers = FakeContainers(container)


# ------------------------------------------------------------------ container_spec


def test_os_variables_go_in_the_environment_and_never_in_the_command(tmp_path: Path) -> None:
    env = {**OPENRC, "TCUP_TARGET": "storage", "LANG": "C"}
    spec = launch.container_spec(LaunchOptions(out=tmp_path / "out"), env, uid=1234, gid=4321)
    assert {k: v for k, v in spec.environment.items()} == {
        k: v for k, v in OPENRC.items() if k.startswith("OS_")
    }
    assert not any(SECRET in part for part in spec.command)
    assert SECRET not in spec.describe() and SECRET not in repr(spec)
    assert "OS_PASSWORD" in spec.describe()
    assert spec.user == "1234:4321"
    assert spec.network_mode == "host"
    assert spec.command[:2] == ["tcup", "run"]


def test_output_dir_is_created_and_mounted_read_write(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    spec = launch.container_spec(LaunchOptions(out=out), OPENRC)
    assert out.is_dir()
    assert spec.volumes[str(out.resolve())] == {"bind": OUT_MOUNT, "mode": "rw"}
    assert spec.command[spec.command.index("--out") + 1] == OUT_MOUNT


def test_output_dir_that_cannot_be_created_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="output directory") as err:
        launch.container_spec(LaunchOptions(out=blocker / "out"), OPENRC)
    assert "--out" in (err.value.hint or "")


def test_run_options_and_args_after_dashes_pass_through_in_order(tmp_path: Path) -> None:
    options = LaunchOptions(
        out=tmp_path / "out",
        guideline="2020.06",
        target="storage",
        add_ons=("https://example.org/dns.2020.06.json",),
        url="https://refstack.example.org/api",
        concurrency=3,
        run_args=("--test-timeout", "600", "--out", "/data/out/sub"),
    )
    spec = launch.container_spec(options, OPENRC)
    assert spec.command == [
        "tcup",
        "run",
        "--guideline",
        "2020.06",
        "--target",
        "storage",
        "--add-on",
        "https://example.org/dns.2020.06.json",
        "--concurrency",
        "3",
        "--url",
        "https://refstack.example.org/api",
        "--out",
        OUT_MOUNT,
        "--test-timeout",
        "600",
        "--out",
        "/data/out/sub",
    ]


def test_local_guideline_and_accounts_files_are_mounted_read_only(tmp_path: Path) -> None:
    guideline = tmp_path / "2020.06.json"
    guideline.write_text("{}")
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("[]")
    options = LaunchOptions(out=tmp_path / "out", guideline=str(guideline), accounts=accounts)
    spec = launch.container_spec(options, OPENRC)
    inside = spec.command[spec.command.index("--guideline") + 1]
    assert spec.volumes[str(guideline)] == {"bind": inside, "mode": "ro"}
    assert inside.endswith("/2020.06.json")
    inside_accounts = spec.command[spec.command.index("--accounts") + 1]
    assert spec.volumes[str(accounts)] == {"bind": inside_accounts, "mode": "ro"}


def test_auto_accounts_pass_through_without_a_mount(tmp_path: Path) -> None:
    options = LaunchOptions(out=tmp_path / "out", auto_accounts=True)
    spec = launch.container_spec(options, OPENRC)
    assert spec.command[spec.command.index("--accounts") + 1] == "auto"
    assert not [v for v in spec.volumes.values() if "/accounts/" in v["bind"]]


def test_missing_accounts_file_is_an_input_error(tmp_path: Path) -> None:
    options = LaunchOptions(out=tmp_path / "out", accounts=tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="accounts file .*nope.yaml.* does not exist"):
        launch.container_spec(options, OPENRC)


def test_key_is_mounted_read_only_at_the_secret_path(tmp_path: Path) -> None:
    key = tmp_path / "tcup_key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    spec = launch.container_spec(LaunchOptions(out=tmp_path / "out", key=key), OPENRC)
    assert spec.volumes[str(key)] == {"bind": KEY_MOUNT, "mode": "ro"}
    assert spec.command[spec.command.index("--key") + 1] == KEY_MOUNT


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unusable_key_is_an_input_error(tmp_path: Path, kind: str) -> None:
    key = tmp_path / "key"
    if kind == "directory":
        key.mkdir()
    with pytest.raises(InputError, match="signing key"):
        launch.container_spec(LaunchOptions(out=tmp_path / "out", key=key), OPENRC)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_key_is_an_input_error(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("x")
    key.chmod(0)
    with pytest.raises(InputError, match="cannot read signing key"):
        launch.container_spec(LaunchOptions(out=tmp_path / "out", key=key), OPENRC)


def test_no_credentials_is_a_preflight_error(tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match="no OpenStack credentials") as err:
        launch.container_spec(LaunchOptions(out=tmp_path / "out"), {"HOME": str(tmp_path)})
    assert "openrc" in (err.value.hint or "") and "--os-cloud" in (err.value.hint or "")


def _clouds(directory: Path, *names: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    body = "clouds:\n" + "".join(
        f"  {n}:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n" for n in names
    )
    path = directory / "clouds.yaml"
    path.write_text(body)
    return path


def test_os_cloud_mounts_clouds_and_secure_yaml_from_the_config_dir(tmp_path: Path) -> None:
    config = tmp_path / "config"
    clouds = _clouds(config / "openstack", "mycloud", "other")
    secure = clouds.with_name("secure.yaml")
    secure.write_text("clouds:\n  mycloud:\n    auth:\n      password: x\n")
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(config), "OS_REGION_NAME": "R1"}
    options = LaunchOptions(out=tmp_path / "out", os_cloud="mycloud")
    spec = launch.container_spec(options, env, cwd=tmp_path)
    assert spec.volumes[str(clouds)] == {"bind": "/etc/openstack/clouds.yaml", "mode": "ro"}
    assert spec.volumes[str(secure)] == {"bind": "/etc/openstack/secure.yaml", "mode": "ro"}
    assert spec.environment == {
        "OS_REGION_NAME": "R1",
        "OS_CLOUD": "mycloud",
        "OS_CLIENT_CONFIG_FILE": "/etc/openstack/clouds.yaml",
        "OS_CLIENT_SECURE_FILE": "/etc/openstack/secure.yaml",
    }
    assert spec.command[spec.command.index("--os-cloud") + 1] == "mycloud"


def test_os_cloud_env_and_client_config_file_are_rewritten_for_the_container(
    tmp_path: Path,
) -> None:
    clouds = _clouds(tmp_path / "elsewhere", "ref")
    env = {"HOME": str(tmp_path), "OS_CLOUD": "ref", "OS_CLIENT_CONFIG_FILE": str(clouds)}
    spec = launch.container_spec(LaunchOptions(out=tmp_path / "out"), env, cwd=tmp_path)
    assert spec.environment["OS_CLIENT_CONFIG_FILE"] == "/etc/openstack/clouds.yaml"
    assert spec.volumes[str(clouds)]["bind"] == "/etc/openstack/clouds.yaml"


def test_unknown_cloud_names_the_clouds_that_exist(tmp_path: Path) -> None:
    clouds = _clouds(tmp_path / "c", "alpha", "beta")
    options = LaunchOptions(out=tmp_path / "out", os_cloud="gamma", clouds_yaml=clouds)
    with pytest.raises(InputError, match=r"'gamma' is not in .*alpha, beta"):
        launch.container_spec(options, {"HOME": str(tmp_path)})


def test_os_cloud_without_any_clouds_yaml_is_an_input_error(tmp_path: Path) -> None:
    options = LaunchOptions(out=tmp_path / "out", os_cloud="x")
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    if Path("/etc/openstack/clouds.yaml").exists():  # pragma: no cover - machine dependent
        pytest.fail("a system clouds.yaml in /etc/openstack makes this test meaningless")
    with pytest.raises(InputError, match="no clouds.yaml was found"):
        launch.container_spec(options, env, cwd=tmp_path)


def test_cacert_file_is_mounted_and_the_variable_rewritten(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    spec = launch.container_spec(
        LaunchOptions(out=tmp_path / "out"), {**OPENRC, "OS_CACERT": str(ca)}
    )
    inside = spec.environment["OS_CACERT"]
    assert inside != str(ca)
    assert spec.volumes[str(ca)] == {"bind": inside, "mode": "ro"}


# ------------------------------------------------------------------ launch


def test_launch_streams_output_returns_exit_code_and_removes_container(tmp_path: Path) -> None:
    # "é" split across two chunks must still come out whole.
    container = FakeContainer([b"[1/2] ok caf\xc3", b"\xa9\n", b"verdict: no\n"], status=1)
    client = FakeClient(container, {"tcup:latest": "sha256:1234"})
    out = io.StringIO()
    code = launch.launch(LaunchOptions(out=tmp_path / "out"), out, client=client, environ=OPENRC)
    assert code == 1
    assert out.getvalue() == "[1/2] ok café\nverdict: no\n"
    assert container.calls == ["start", "wait", "remove(force=True)"]
    image, command, kwargs = client.containers.created[0]
    assert image == "tcup:latest" and command[:2] == ["tcup", "run"]
    assert kwargs["environment"]["TCUP_IMAGE_DIGEST"] == "sha256:1234"
    assert kwargs["environment"]["OS_PASSWORD"] == SECRET
    assert kwargs["network_mode"] == "host" and kwargs["init"] is True
    assert kwargs["user"] == f"{os.getuid()}:{os.getgid()}"


def test_ctrl_c_interrupts_the_run_then_removes_the_container(tmp_path: Path) -> None:
    container = FakeContainer([b"[1/58] ok\n"], interrupt=True)
    with pytest.raises(KeyboardInterrupt):
        launch.launch(
            LaunchOptions(out=tmp_path / "out"),
            io.StringIO(),
            client=FakeClient(container),
            environ=OPENRC,
        )
    assert container.killed == ["SIGINT"]
    assert container.calls[-1] == "remove(force=True)"


def test_missing_image_says_make_image(tmp_path: Path) -> None:
    client = FakeClient(FakeContainer([]), images={})
    with pytest.raises(PreflightError, match="image 'tcup:latest' is not in") as err:
        launch.launch(LaunchOptions(out=tmp_path / "out"), io.StringIO(), client, OPENRC)
    assert "make image" in (err.value.hint or "")
    assert client.containers.created == []


def test_engine_not_running_is_a_preflight_error_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(PreflightError, match="cannot reach the Docker engine") as err:
        launch.docker_client()
    assert "engine-up" in (err.value.hint or "")


def test_cli_passes_options_and_the_args_after_dashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[LaunchOptions] = []

    def fake_launch(options: LaunchOptions, stdout: io.StringIO) -> int:
        seen.append(options)
        return 7

    monkeypatch.setattr("tcup.commands.launch.launch", fake_launch)
    monkeypatch.setenv("TCUP_CONCURRENCY", "4")
    argv = ["launch", "--target", "storage", "--add-on", "a", "--add-on", "b"]
    argv += ["--out", str(tmp_path), "--", "--test-timeout", "60"]
    assert cli.main(argv, io.StringIO(), io.StringIO()) == 7
    (options,) = seen
    assert options.target == "storage" and options.add_ons == ("a", "b")
    assert options.concurrency == 4  # TCUP_* settings apply to launch's options too
    assert options.run_args == ("--test-timeout", "60")
    assert options.image == launch.DEFAULT_IMAGE


def test_cli_reports_missing_credentials_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)
    err = io.StringIO()
    code = cli.main(["launch", "--out", str(tmp_path)], io.StringIO(), err)
    assert code == 3
    assert err.getvalue().startswith("tcup: error: no OpenStack credentials")
    assert "Traceback" not in err.getvalue()


# ------------------------------------------------------------------ real engine


@pytest.fixture(scope="module")
def image(tcup_image: str) -> str:
    """The engine and the image, through the project's scripts (tests/conftest.py)."""
    return "tcup:latest"


@pytest.mark.integration
def test_launch_runs_the_image_and_returns_its_exit_code(image: str, tmp_path: Path) -> None:
    # Keystone on a closed loopback port: `tcup run` in the container fails its
    # pre-flight (exit 3) after loading the guideline, which shows the whole
    # round trip: mounts, environment, host network, streamed output, exit code.
    interop = Path(os.environ.get("TCUP_INTEROP_DIR") or REPO.parent / "shared" / "interop")
    env = {**OPENRC, "OS_AUTH_URL": "http://127.0.0.1:9/v3"}
    out = tmp_path / "results"
    options = LaunchOptions(
        image=image, out=out, guideline=str(interop / "2020.06.json"), target="storage"
    )
    stdout = io.StringIO()
    try:
        code = launch.launch(options, stdout, environ=env)
    except PreflightError as exc:  # raised on the host side: not what this test is about
        pytest.fail(f"launch failed before the container ran: {exc}")
    assert code == 3, stdout.getvalue()
    assert "127.0.0.1:9" in stdout.getvalue()
    assert SECRET not in stdout.getvalue()
    assert out.is_dir() and out.stat().st_uid == os.getuid()
    client = docker.from_env()
    leftovers = client.containers.list(all=True, filters={"label": "tcup.launch=1"})
    assert leftovers == []


def test_image_validation_and_rerun_pass_to_tcup_run(tmp_path: Path) -> None:
    disk = tmp_path / "disk.qcow2"
    disk.write_bytes(b"QFI\xfb")
    options = LaunchOptions(out=tmp_path / "out", os_image=str(disk), validation="off")
    spec = launch.container_spec(options, OPENRC)
    image_at = spec.command[spec.command.index("--image") + 1]
    assert spec.volumes[str(disk.resolve())] == {"bind": image_at, "mode": "ro"}
    assert spec.command[spec.command.index("--validation") + 1] == "off"
    generated = launch.container_spec(
        LaunchOptions(out=tmp_path / "o", os_image="generate"), OPENRC
    )
    assert generated.command[generated.command.index("--image") + 1] == "generate"

    earlier = tmp_path / "earlier"
    with pytest.raises(InputError, match="has no manifest.json"):
        launch.container_spec(LaunchOptions(rerun=earlier), OPENRC)
    earlier.mkdir()
    (earlier / "manifest.json").write_text("{}")
    spec = launch.container_spec(LaunchOptions(out=tmp_path / "unused", rerun=earlier), OPENRC)
    assert spec.command[spec.command.index("--rerun") + 1] == launch.OUT_MOUNT
    assert spec.volumes[str(earlier.resolve())] == {"bind": launch.OUT_MOUNT, "mode": "rw"}

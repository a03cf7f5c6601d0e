"""tempest.conf overrides, credential mode, local image and redaction."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tcup import configure
from tcup.cloud import CloudInfo
from tcup.errors import InputError
from tests.cloud_info import make_cloud_info, make_credentials

CANARY = "canary-Pa55w0rd-7f3e"


def _info(services: dict[str, str], roles: tuple[str, ...] = ("member",)) -> CloudInfo:
    return make_cloud_info(
        auth_url="http://127.0.0.1:5000/v3",
        user="demo",
        project="demo",
        roles=roles,
        services=services,
    )


def _read(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read(path)
    return parser


CONF = f"""\
[DEFAULT]
log_file = tempest.log

[auth]
use_dynamic_credentials = False
test_accounts_file = /somewhere/accounts.yaml
admin_password = {CANARY}

[identity]
uri_v3 = http://127.0.0.1:5000/v3
region = RegionOne
admin_token = tok-{CANARY}

[object-storage]
operator_role = member

[oslo-concurrency]
lock_path = /tmp
"""


def test_redact_conf_masks_secret_keys_and_known_values(tmp_path: Path) -> None:
    conf = tmp_path / "tempest.conf"
    # a secret value under an innocent-looking key is caught by value
    conf.write_text(CONF + f"\n[validation]\nnote = {CANARY}\n", encoding="utf-8")
    text = configure.redact_conf(conf, secrets=[CANARY])
    assert CANARY not in text
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("auth", "admin_password") == configure.MASK
    assert parser.get("identity", "admin_token") == configure.MASK
    assert parser.get("validation", "note") == configure.MASK
    # everything else is kept as is
    assert parser.get("identity", "uri_v3") == "http://127.0.0.1:5000/v3"
    assert parser.get("auth", "use_dynamic_credentials") == "False"


def test_merge_overrides_section_by_section(tmp_path: Path) -> None:
    conf = tmp_path / "tempest.conf"
    conf.write_text(CONF, encoding="utf-8")
    user = tmp_path / "overrides.ini"
    user.write_text(
        "[object-storage]\noperator_role = swiftoperator\n\n"
        "[compute-feature-enabled]\nresize = True\n",
        encoding="utf-8",
    )
    configure.merge_overrides(conf, user, [("identity", "region", "RegionTwo")])
    merged = _read(conf)
    assert merged.get("object-storage", "operator_role") == "swiftoperator"
    assert merged.get("compute-feature-enabled", "resize") == "True"
    assert merged.get("identity", "region") == "RegionTwo"
    # untouched keys survive
    assert merged.get("identity", "uri_v3") == "http://127.0.0.1:5000/v3"
    assert merged.get("DEFAULT", "log_file") == "tempest.log"


def test_bad_overrides_file_is_an_input_error(tmp_path: Path) -> None:
    conf = tmp_path / "tempest.conf"
    conf.write_text(CONF, encoding="utf-8")
    bad = tmp_path / "bad.ini"
    bad.write_text("no section header here\n", encoding="utf-8")
    with pytest.raises(InputError, match="bad.ini"):
        configure.merge_overrides(conf, bad)
    with pytest.raises(InputError, match="does not exist"):
        configure.merge_overrides(conf, tmp_path / "missing.ini")


def test_tcup_overrides_keep_locks_in_workspace_and_fit_the_catalog(tmp_path: Path) -> None:
    storage_only = configure.tcup_overrides(tmp_path, _info({"identity": "a", "object-store": "b"}))
    keys = {(s, k): v for s, k, v in storage_only}
    assert keys[("oslo-concurrency", "lock_path")] == str(tmp_path / "tempest_lock")
    assert keys[("identity", "region")] == "RegionOne"
    assert keys[("object-storage", "reseller_admin_role")] == "ResellerAdmin"
    assert ("image-feature-enabled", "image_format_enforcement") not in keys
    with_glance = configure.tcup_overrides(
        tmp_path, _info({"identity": "a", "object-store": "b", "image": "c"})
    )
    assert ("image-feature-enabled", "image_format_enforcement", "False") in with_glance


def test_mode_accounts_when_given_else_dynamic_for_admins(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    assert configure.choose_mode(_info({}), accounts) == "accounts"
    assert configure.choose_mode(_info({}, roles=("admin", "member")), None) == "dynamic"
    with pytest.raises(InputError, match="pre-provisioned accounts") as info:
        configure.choose_mode(_info({}), None)
    assert "--accounts" in (info.value.hint or "")


def test_generated_image_is_local_and_small(tmp_path: Path) -> None:
    from tcup import resources

    image = resources.local_image(resources.GENERATE, tmp_path / "ws")  # made before the workspace
    assert image.path.parent == tmp_path / "ws" and image.path.stat().st_size == 1024 * 1024
    assert image.disk_format == "raw" and image.min_disk_gb == 1
    assert image.path.read_bytes()[510:512] == b"\x55\xaa"  # an MBR: a valid raw disk
    own = tmp_path / "mine.img"
    own.write_bytes(b"x" * 10)
    assert resources.local_image(own, tmp_path).path == own.resolve()
    with pytest.raises(InputError, match="absent.img") as info:
        resources.local_image(tmp_path / "absent.img", tmp_path)
    assert "--image" in (info.value.hint or "")


class _Creds:
    """Just enough of Credentials for secret collection."""

    def __init__(self, auth: dict[str, str]) -> None:
        self.region = type("R", (), {"config": {"auth": auth}})()


def test_known_secrets_come_from_credentials_and_accounts(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "- username: t1\n  password: acct-secret-1\n  project_name: p\n"
        "- username: t2\n  password: acct-secret-2\n  project_name: p\n",
        encoding="utf-8",
    )
    found = configure._known_secrets(_Creds({"username": "u", "password": CANARY}), accounts)
    assert set(found) == {CANARY, "acct-secret-1", "acct-secret-2"}


def test_malformed_accounts_file_is_an_input_error(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("username: not-a-list\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a YAML list"):
        configure._known_secrets(_Creds({}), accounts)


@pytest.mark.integration
def test_init_workspace_runs_tempest_init_once(tmp_path: Path) -> None:
    ws = configure.init_workspace(tmp_path / "ws")
    assert (ws / ".stestr.conf").is_file()
    assert (ws / "etc").is_dir()
    marker = ws / "etc" / "marker"
    marker.write_text("kept", encoding="utf-8")
    assert configure.init_workspace(ws) == ws  # reused, not re-created
    assert marker.read_text(encoding="utf-8") == "kept"


@pytest.mark.integration
def test_a_workspace_deleted_by_hand_is_made_again(tmp_path: Path) -> None:
    """Tempest refuses a name it has registered; the registry goes with the workspace."""
    ws = configure.init_workspace(tmp_path / "ws")
    shutil.rmtree(ws)
    assert configure.init_workspace(tmp_path / "ws") == ws
    assert (ws / ".stestr.conf").is_file()
    assert not list(tmp_path.glob("*.yaml"))  # nothing beside the workspace
    # a directory of something else is named, not overwritten
    (ws / ".stestr.conf").unlink()
    with pytest.raises(InputError, match="is not empty and is no Tempest workspace"):
        configure.init_workspace(ws)
    assert (ws / "etc").is_dir()


@pytest.mark.integration
def test_a_workspace_made_by_another_tempest_is_repointed_and_lists_tests(tmp_path: Path) -> None:
    """A cached workspace whose .stestr.conf names another virtualenv's Tempest."""
    ws = configure.init_workspace(tmp_path / "ws")
    conf = ws / ".stestr.conf"
    original = conf.read_text(encoding="utf-8")
    elsewhere = tmp_path / "old-venv" / "site-packages" / "tempest"
    (elsewhere / "test_discover").mkdir(parents=True)
    conf.write_text(
        f"[DEFAULT]\ntest_path={elsewhere}/test_discover\ntop_dir={elsewhere}\n"
        "group_regex=([^\\.]*\\.)*\n",
        encoding="utf-8",
    )
    assert configure.init_workspace(ws) == ws
    repointed = conf.read_text(encoding="utf-8")
    assert str(elsewhere) not in repointed
    assert configure._tempest_dir() is not None
    assert f"test_path = {configure._tempest_dir() / 'test_discover'}" in repointed
    assert "group_regex = ([^\\.]*\\.)*" in repointed
    listed = subprocess.run(
        [configure._tool("stestr"), "list", "test_api_discovery"],
        cwd=ws,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert any("TestApiDiscovery.test_api_version_resources" in line for line in listed)
    assert original.count("test_path") == 1


def test_tempestconf_env_makes_credential_paths_absolute(tmp_path: Path) -> None:
    env = configure.tempestconf_env(
        {"OS_CLIENT_CONFIG_FILE": "rel/clouds.yaml", "OS_CACERT": "/abs/ca.pem", "X": "y"}
    )
    assert env["OS_CLIENT_CONFIG_FILE"] == str(Path.cwd() / "rel" / "clouds.yaml")
    assert env["OS_CACERT"] == "/abs/ca.pem" and env["X"] == "y"


def _admin_creds(auth: dict[str, str]):  # noqa: ANN202
    from types import SimpleNamespace

    return make_credentials(
        cloud="admin",
        username=auth.get("username"),
        project="admin",
        region=SimpleNamespace(config={"auth": auth}),
    )


def test_dynamic_variant_turns_the_made_accounts_conf_into_dynamic_credentials(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "etc" / "tempest.conf"
    conf.parent.mkdir()
    conf.write_text(CONF, encoding="utf-8")
    made = configure.Configured(tmp_path, conf, "auto-accounts")
    creds = _admin_creds({"username": "admin", "password": CANARY, "project_name": "admin"})
    path = configure.dynamic_variant(made, creds)
    assert path == conf.with_name("tempest-dynamic.conf") and path.stat().st_mode & 0o077 == 0
    auth = _read(path)["auth"]
    assert auth["use_dynamic_credentials"] == "True" and "test_accounts_file" not in auth
    assert (auth["admin_username"], auth["admin_password"]) == ("admin", CANARY)
    assert auth["admin_project_name"] == "admin" and auth["admin_user_domain_name"] == "Default"
    assert _read(path)["object-storage"]["operator_role"] == "member"  # the rest is kept
    assert "use_dynamic_credentials = False" in conf.read_text()  # the original is untouched
    # a user's own accounts, or credentials without a password: no dynamic variant
    assert (
        configure.dynamic_variant(configure.Configured(tmp_path, conf, "accounts"), creds) is None
    )
    app_cred = _admin_creds(
        {"application_credential_id": "x", "application_credential_secret": "y"}
    )
    assert configure.dynamic_variant(made, app_cred) is None


def test_tempestconf_is_told_to_leave_out_endpoints_that_do_not_answer() -> None:

    alive = _info({"identity": "i", "object-store": "o"})
    assert configure.tempestconf_command(alive) == [sys.executable, "-m", "tcup.tempestconf", "--"]
    dead = make_cloud_info(
        services={"compute": "c", "placement": "p"},
        unreachable={"placement": "connection refused", "compute": "connection timed out"},
    )
    assert configure.tempestconf_command(dead) == [
        sys.executable,
        "-m",
        "tcup.tempestconf",
        "--skip-type",
        "compute",
        "--skip-type",
        "placement",
        "--",
    ]
    assert not dead.has_service("compute")


def test_tempestconf_is_told_to_leave_out_services_of_other_regions() -> None:

    info = make_cloud_info(
        region="StorageOnly",
        services={"identity": "i", "object-store": "o"},
        other_regions=("compute", "network"),
        unreachable={"object-store": "connection refused"},
    )
    assert configure.tempestconf_command(info) == [
        sys.executable,
        "-m",
        "tcup.tempestconf",
        "--skip-type",
        "compute",
        "--skip-type",
        "network",
        "--skip-type",
        "object-store",
        "--",
    ]


def test_tempestconf_wrapper_splits_its_own_options_from_tempestconf_args() -> None:
    from tcup import tempestconf

    skipped, args = tempestconf.split_argv(
        ["--skip-type", "compute", "--skip-type", "volumev3", "--", "--create", "--out", "x"]
    )
    assert skipped == {"compute", "volumev3"} and args == ["--create", "--out", "x"]
    with pytest.raises(SystemExit, match="usage"):
        tempestconf.split_argv(["--bogus", "x", "--"])


def test_tempestconf_runs_as_it_is_when_it_belongs_to_another_python(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    alive = _info({"identity": "i", "object-store": "o"})
    assert configure.tempestconf_command(alive)[0].endswith("discover-tempest-config")


def test_tempestconf_wrapper_finds_the_service_classes_upstream_finds() -> None:
    # in a Python of its own: upstream's pyclbr walk trips over pytest's import hook
    script = """
import json
from config_tempest.services.services import Services
from tcup import tempestconf
upstream = Services.__new__(Services)
upstream._service_classes = []
names = lambda classes: [f"{c.__module__}.{c.__qualname__}" for c in classes]
ours = tempestconf.service_classes()
print(json.dumps([names(Services.service_classes.fget(upstream)), names(ours)]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    expected, found = json.loads(done.stdout.splitlines()[-1])
    assert "config_tempest.services.object_storage.ObjectStorageService" in expected
    assert len(expected) > 20  # compute, identity, network, object storage ...
    assert found == expected


def test_tempestconf_wrapper_makes_services_use_its_service_classes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from config_tempest.services.services import Services

    from tcup import tempestconf

    monkeypatch.setattr(Services, "service_classes", Services.service_classes)
    monkeypatch.setattr(tempestconf, "service_classes", lambda: [int, str])
    tempestconf.find_classes_by_import()
    services = Services.__new__(Services)
    services._service_classes = []
    assert services.service_classes == [int, str]
    services._service_classes = [float]  # listed once per Services, as upstream does
    assert services.service_classes == [float]


def test_extension_lists_are_sorted_so_the_same_cloud_gives_the_same_conf(tmp_path: Path) -> None:
    conf = tmp_path / "tempest.conf"
    conf.write_text(
        "[identity-feature-enabled]\napi_extensions = OS-TRUST,OS-EC2, s3tokens\n"
        "[network-feature-enabled]\napi_extensions = all\n[auth]\nadmin_password = a,b\n",
        encoding="utf-8",
    )
    configure._sort_extension_lists(conf)
    text = conf.read_text(encoding="utf-8")
    assert "api_extensions = OS-EC2,OS-TRUST,s3tokens\n" in text
    assert "api_extensions = all\n" in text and "admin_password = a,b\n" in text
    assert conf.stat().st_mode & 0o777 == 0o600

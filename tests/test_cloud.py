"""Credentials, service mapping, cpid and pre-flight failures that need no cloud."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from tcup import cloud
from tcup.errors import InputError, PreflightError
from tcup.guidelines import parse_guideline
from tests.cloud_info import make_cloud_info

INTEROP = Path(
    os.environ.get("TCUP_INTEROP_DIR")
    or Path(__file__).resolve().parents[1].parent / "shared" / "interop"
)

CANARY = "canary-Pa55w0rd-7f3e"


def _env(**extra: str) -> dict[str, str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent-home"}
    base.update(extra)
    return base


def _password_env(auth_url: str, **extra: str) -> dict[str, str]:
    """``OS_*`` password credentials of user alice (password: the canary) for ``auth_url``."""
    return _env(
        OS_AUTH_URL=auth_url,
        OS_USERNAME="alice",
        OS_PASSWORD=CANARY,
        OS_PROJECT_NAME="demo",
        OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default",
        **extra,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- credentials


def test_credentials_from_os_env_vars() -> None:
    creds = cloud.load_credentials(
        environ=_password_env(
            "https://keystone.example.com:5000/v3",
            OS_REGION_NAME="RegionTwo",
        )
    )
    assert creds.cloud is None
    assert creds.auth_url == "https://keystone.example.com:5000/v3"
    assert (creds.username, creds.project, creds.region_name) == ("alice", "demo", "RegionTwo")
    assert (creds.user_domain, creds.project_domain) == ("Default", "Default")
    assert creds.verify is True
    assert CANARY not in repr(creds) and CANARY not in creds.describe()
    assert creds.tempestconf_args() == []


def test_credentials_from_clouds_yaml_and_secure_yaml(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n"
        "  mycloud:\n"
        "    region_name: RegionOne\n"
        "    cacert: /etc/ssl/my-ca.pem\n"
        "    auth:\n"
        "      auth_url: https://id.example.org/v3\n"
        "      username: bob\n"
        "      project_name: interop\n"
        "      user_domain_name: Users\n"
        "      project_domain_name: Projects\n",
        encoding="utf-8",
    )
    secure = tmp_path / "secure.yaml"
    secure.write_text(f"clouds:\n  mycloud:\n    auth:\n      password: {CANARY}\n", "utf-8")
    creds = cloud.load_credentials(
        "mycloud",
        environ=_env(OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLIENT_SECURE_FILE=str(secure)),
    )
    assert creds.cloud == "mycloud"
    assert (creds.username, creds.project) == ("bob", "interop")
    assert (creds.user_domain, creds.project_domain) == ("Users", "Projects")
    assert creds.region_name == "RegionOne"
    assert creds.verify == "/etc/ssl/my-ca.pem"
    assert creds.region.config["auth"]["password"] == CANARY  # secure.yaml was merged
    assert creds.tempestconf_args() == [
        "--os-cloud",
        "mycloud",
        "--os-cacert",
        "/etc/ssl/my-ca.pem",
    ]


def test_os_cloud_env_var_selects_cloud_and_insecure_is_passed_on(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  c1:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n"
        "      username: u\n      password: p\n      project_name: p\n",
        encoding="utf-8",
    )
    creds = cloud.load_credentials(
        insecure=True, environ=_env(OS_CLIENT_CONFIG_FILE=str(clouds), OS_CLOUD="c1")
    )
    assert creds.cloud == "c1"
    assert creds.verify is False
    assert creds.tempestconf_args() == ["--os-cloud", "c1", "--insecure"]


def test_application_credentials_are_supported() -> None:
    creds = cloud.load_credentials(
        environ=_env(
            OS_AUTH_URL="http://127.0.0.1:5000/v3",
            OS_AUTH_TYPE="v3applicationcredential",
            OS_APPLICATION_CREDENTIAL_ID="abc123",
            OS_APPLICATION_CREDENTIAL_SECRET=CANARY,
        )
    )
    assert creds.auth_type == "v3applicationcredential"
    assert CANARY not in repr(creds)


def test_no_credentials_at_all_is_a_preflight_error() -> None:
    with pytest.raises(PreflightError, match="no OpenStack credentials") as info:
        cloud.load_credentials(environ=_env())
    assert "--os-cloud" in (info.value.hint or "")


def test_unknown_cloud_name_is_a_preflight_error(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  known:\n    auth:\n      auth_url: http://x/v3\n", "utf-8")
    with pytest.raises(PreflightError, match="nope"):
        cloud.load_credentials("nope", environ=_env(OS_CLIENT_CONFIG_FILE=str(clouds)))


def test_incomplete_credentials_name_what_is_missing() -> None:
    with pytest.raises(PreflightError, match="auth_url"):
        cloud.load_credentials(environ=_env(OS_USERNAME="alice", OS_AUTH_TYPE="password"))


# --------------------------------------------------------------------- cpid


def test_cpid_fallback_is_md5_of_the_auth_url_host() -> None:
    # the value refstack-client computes (protocol doc section 3)
    assert (
        cloud.cpid_from_url("https://keystone.example.com:5000/v3")
        == "b33dc8a37c8607c6a7612f6296139578"
    )
    assert cloud.cpid_from_url("http://127.0.0.1:5000") == hashlib.md5(b"127.0.0.1").hexdigest()


def test_cpid_fallback_refuses_non_http_urls() -> None:
    with pytest.raises(InputError):
        cloud.cpid_from_url("ftp://keystone.example.com/v3")


def test_cpid_v3_is_the_identity_service_id() -> None:
    catalog = [
        {"type": "object-store", "id": "swift-id", "endpoints": []},
        {"type": "identity", "id": "ks-service-id", "endpoints": [{"id": "ep-1"}]},
    ]
    assert cloud.cpid_from_catalog(catalog, "http://h:5000/v3") == ("ks-service-id", "keystone")


def test_cpid_v2_is_the_first_identity_endpoint_id() -> None:
    catalog = [{"type": "identity", "endpoints": [{"id": "ep-1"}, {"id": "ep-2"}]}]
    assert cloud.cpid_from_catalog(catalog, "http://h:5000/v2.0", "v2") == ("ep-1", "keystone")


def test_cpid_without_identity_service_falls_back_to_url() -> None:
    catalog = [{"type": "object-store", "id": "x"}]
    cpid, source = cloud.cpid_from_catalog(catalog, "https://keystone.example.com:5000/v3")
    assert (cpid, source) == ("b33dc8a37c8607c6a7612f6296139578", "auth-url")


# ------------------------------------------------------------------ services


@pytest.mark.parametrize(
    ("capability", "project", "service"),
    [
        ("compute-servers-create", None, "compute"),
        ("networks-l3-router", None, "network"),
        ("volumes-v3-list", None, "block-storage"),
        ("images-v2-list", None, "image"),
        ("objectstore-container-create", None, "object-store"),
        ("identity-v3-tokens-create", None, "identity"),
        ("dns-zones-create", None, "dns"),
        ("stacks-create", None, "orchestration"),
        ("something-odd", "swift", "object-store"),
        ("unknown-thing", None, None),
    ],
)
def test_service_for_capability(capability: str, project: str | None, service: str | None) -> None:
    assert cloud.service_for_capability(capability, project) == service


def test_every_2020_06_capability_maps_to_a_service() -> None:
    path = INTEROP / "2020.06.json"
    guideline = parse_guideline(path.read_bytes(), str(path))
    unmapped = [
        c.name
        for c in guideline.capabilities.values()
        if cloud.service_for_capability(c.name, c.project) is None
    ]
    assert unmapped == []


def test_block_storage_accepts_volumev3_catalog_entries() -> None:
    assert "volumev3" in cloud.service_aliases("block-storage")
    info = make_cloud_info(services={"volumev3": "http://h:8776/v3"})
    assert info.has_service("block-storage")
    assert not info.has_service("compute")


def test_format_cloud_info_lists_found_and_missing_services() -> None:
    info = make_cloud_info(
        services={"identity": "a", "object-store": "b"},
        required=("identity", "object-store", "compute"),
        missing=("compute",),
    )
    text = cloud.format_cloud_info(info)
    assert "cpid:       c (from keystone)" in text
    assert "missing:    compute" in text
    assert "identity, object-store (found)" in text


def test_endpoints_of_the_region_and_of_any_region() -> None:
    from types import SimpleNamespace

    from tests.cloud_info import make_credentials

    def entry(stype: str, *regions: str) -> dict:
        return {
            "type": stype,
            "endpoints": [
                {"interface": i, "region_id": r, "url": f"http://{stype}.{r}/{i}"}
                for r in regions
                for i in ("admin", "public")
            ],
        }

    catalog = [entry("identity", "RegionOne", "StorageOnly"), entry("compute", "RegionOne")]
    access = SimpleNamespace(service_catalog=SimpleNamespace(catalog=catalog))
    storage = make_credentials(region_name="StorageOnly")
    assert cloud._public_endpoints(access, storage) == {
        "identity": "http://identity.StorageOnly/public"
    }
    assert set(cloud._public_endpoints(access, storage, any_region=True)) == {
        "identity",
        "compute",
    }
    # no region named: every region's endpoints count
    anywhere = make_credentials(region_name=None)
    assert set(cloud._public_endpoints(access, anywhere)) == {"identity", "compute"}


def test_format_cloud_info_names_services_only_in_other_regions() -> None:
    info = make_cloud_info(
        region="StorageOnly", services={"identity": "a"}, other_regions=("compute", "network")
    )
    text = cloud.format_cloud_info(info)
    assert "elsewhere:  compute, network (only in other regions than StorageOnly" in text
    assert not info.has_service("compute")


# ---------------------------------------------------------------- pre-flight


def test_unneeded_types_only_without_compute_or_orchestration() -> None:
    services = ["identity", "object-store", "compute", "image", "volumev3", "network"]
    assert cloud.unneeded_types(["identity", "object-store"], services) == [
        "compute",
        "image",
        "network",
        "volumev3",
    ]
    assert cloud.unneeded_types(["object-store", "block-storage"], services) == [
        "compute",
        "image",
        "network",
    ]
    assert cloud.unneeded_types(["object-store", "compute"], services) == []
    assert cloud.unneeded_types(["orchestration"], services) == []
    assert cloud.unneeded_types([], services) == []


def test_unreachable_keystone_says_connection_refused() -> None:
    port = _free_port()
    creds = cloud.load_credentials(environ=_password_env(f"http://127.0.0.1:{port}/v3"))
    with pytest.raises(PreflightError, match="cannot reach Keystone .*connection refused") as info:
        cloud.preflight(creds, ["object-store"])
    assert CANARY not in str(info.value) and CANARY not in (info.value.hint or "")


def test_untrusted_tls_certificate_says_tls_and_how_to_trust_it(tls_files) -> None:
    """A real TLS server on 127.0.0.1 whose self-signed certificate the client does not trust."""
    from tests.refstack_fake import FakeRefstack  # any HTTPS server: the handshake fails first

    cert, key = map(str, tls_files)
    with FakeRefstack(tls=(cert, key)) as server:
        env = _password_env(f"{server.url}/v3")
        with pytest.raises(PreflightError, match="TLS failure talking to Keystone") as info:
            cloud.preflight(cloud.load_credentials(environ=env), ["object-store"])
        assert "OS_CACERT" in info.value.hint and "--insecure" in info.value.hint
        assert CANARY not in str(info.value)
        # trusting the certificate (OS_CACERT) or skipping verification gets past TLS:
        # what fails next is that this server is no Keystone, not the handshake
        for creds in (
            cloud.load_credentials(environ=_env(**env, OS_CACERT=cert)),
            cloud.load_credentials(environ=_env(**env), insecure=True),
        ):
            with pytest.raises(PreflightError) as past_tls:
                cloud.preflight(creds, ["object-store"])
            assert "TLS" not in past_tls.value.message

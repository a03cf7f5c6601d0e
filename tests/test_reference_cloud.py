"""The loopback reference cloud (tools/cloud): real Keystone, Swift and Glance.

Integration tests: they start the cloud through the ``reference_cloud`` fixture.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
import uuid

import pytest
import requests
import yaml

from tests.conftest import CLOUD_TOOLS, ReferenceCloud, cloud_tool, running_services

pytestmark = pytest.mark.integration


def test_non_admin_user_gets_token_and_catalog(reference_cloud: ReferenceCloud) -> None:
    conn = reference_cloud.connect()
    assert conn.auth_token
    access = conn.session.auth.get_access(conn.session)
    assert access.project_name == "tcup"
    assert "admin" not in access.role_names
    assert {"member", "swiftoperator"} <= set(access.role_names)
    types = {entry["type"] for entry in access.service_catalog.catalog}
    assert {"identity", "object-store", "image"} <= types
    swift = conn.session.get_endpoint(service_type="object-store", interface="public")
    assert swift.endswith(f"/v1/AUTH_{access.project_id}")


def test_storage_only_region_has_identity_object_store_and_image(
    reference_cloud: ReferenceCloud,
) -> None:
    conn = reference_cloud.connect()
    access = conn.session.auth.get_access(conn.session)
    regions: dict[str, set[str]] = {}
    for entry in access.service_catalog.catalog:
        for endpoint in entry["endpoints"]:
            regions.setdefault(endpoint["region_id"], set()).add(entry["type"])
    assert regions[reference_cloud.storage_region] == {"identity", "object-store", "image"}
    assert regions[reference_cloud.region] >= regions[reference_cloud.storage_region]


def test_admin_cloud_is_admin(reference_cloud: ReferenceCloud) -> None:
    conn = reference_cloud.connect(admin=True)
    access = conn.session.auth.get_access(conn.session)
    assert "admin" in access.role_names
    assert access.project_name == "admin"


def test_swift_round_trip_as_non_admin(reference_cloud: ReferenceCloud) -> None:
    conn = reference_cloud.connect()
    container = f"tcup-test-{uuid.uuid4().hex[:8]}"
    body = os.urandom(4096)
    conn.object_store.create_container(name=container)
    try:
        conn.object_store.upload_object(container=container, name="blob", data=body)
        names = [obj.name for obj in conn.object_store.objects(container)]
        assert names == ["blob"]
        assert conn.object_store.download_object("blob", container=container) == body
    finally:
        for obj in conn.object_store.objects(container):
            conn.object_store.delete_object(obj, container=container)
        conn.object_store.delete_container(container)
    assert container not in [c.name for c in conn.object_store.containers()]


def test_swift_info_advertises_what_tempest_needs(reference_cloud: ReferenceCloud) -> None:
    info = requests.get("http://127.0.0.1:8080/info", timeout=10).json()
    for feature in ("tempurl", "slo", "symlink", "versioned_writes", "account_quotas"):
        assert feature in info


def test_glance_lists_and_stores_an_image(reference_cloud: ReferenceCloud) -> None:
    conn = reference_cloud.connect()
    before = {image.id for image in conn.image.images()}
    image = conn.image.create_image(
        name=f"tcup-test-{uuid.uuid4().hex[:8]}",
        filename=str(reference_cloud.image),
        disk_format="raw",
        container_format="bare",
        wait=True,
    )
    try:
        listed = {i.id: i for i in conn.image.images()}
        assert set(listed) - before == {image.id}
        assert conn.image.get_image(image.id).status == "active"
        data = conn.image.download_image(image.id).content
        assert data == reference_cloud.image.read_bytes()
    finally:
        conn.image.delete_image(image.id)


def test_client_files(reference_cloud: ReferenceCloud) -> None:
    for path in (
        reference_cloud.clouds_yaml,
        reference_cloud.openrc,
        reference_cloud.openrc_admin,
        reference_cloud.accounts_yaml,
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    clouds = yaml.safe_load(reference_cloud.clouds_yaml.read_text())["clouds"]
    assert set(clouds) == {reference_cloud.cloud, reference_cloud.admin_cloud}
    # openrc works in a shell with nothing but its variables.
    out = subprocess.run(
        ["bash", "-c", f". {reference_cloud.openrc} && env"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout
    assert "OS_USERNAME=tcup\n" in out
    assert f"OS_PASSWORD={reference_cloud.user.password}\n" in out


def test_tempest_accounts_can_log_in_with_their_roles(reference_cloud: ReferenceCloud) -> None:
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    accounts = yaml.safe_load(reference_cloud.accounts_yaml.read_text())
    roles = sorted(tuple(a["roles"]) for a in accounts)
    assert roles.count(("member", "swiftoperator")) == 4
    assert roles.count(("reader",)) == 4
    assert roles.count(("ResellerAdmin",)) == 2
    # Tempest takes the images tests' project_reader from the primary's project.
    operator_projects = {a["project_name"] for a in accounts if "member" in a["roles"]}
    reader_projects = {a["project_name"] for a in accounts if a["roles"] == ["reader"]}
    assert operator_projects == reader_projects
    assert len({a["username"] for a in accounts}) == len(accounts)
    for account in accounts:
        auth = v3.Password(
            auth_url=reference_cloud.auth_url,
            username=account["username"],
            password=account["password"],
            project_name=account["project_name"],
            user_domain_name=account["user_domain_name"],
            project_domain_name=account["project_domain_name"],
        )
        access = auth.get_access(session.Session())
        # Keystone adds implied roles (member implies reader).
        assert set(account["roles"]) <= set(access.role_names), account["username"]
        if "ResellerAdmin" in account["roles"]:
            assert "member" not in access.role_names, account["username"]


def test_image_is_small_and_local(reference_cloud: ReferenceCloud) -> None:
    assert 0 < reference_cloud.image.stat().st_size <= 1024 * 1024


def test_up_twice_is_idempotent(reference_cloud: ReferenceCloud) -> None:
    run = reference_cloud.state_dir / "run"
    pids = {svc: (run / f"{svc}.pid").read_text() for svc in running_services()}
    start = time.monotonic()
    proc = cloud_tool("up")
    print(f"second tools/cloud/up took {time.monotonic() - start:.2f} s")
    assert "started" not in proc.stderr
    after = {svc: (run / f"{svc}.pid").read_text() for svc in running_services()}
    assert after == pids


def test_stopping_swift_makes_it_unreachable_then_restarts(reference_cloud: ReferenceCloud) -> None:
    conn = reference_cloud.connect()
    with reference_cloud.stopped("swift"):
        status = cloud_tool("status", "--only", "swift")
        assert status.returncode == 3
        assert "keystone" in running_services()
        with pytest.raises(requests.ConnectionError):
            requests.get("http://127.0.0.1:8080/healthcheck", timeout=5)
        # Keystone still answers and still lists object-store in the catalog.
        assert conn.session.get_endpoint(service_type="object-store", interface="public")
    assert cloud_tool("status", "--only", "swift").returncode == 0
    assert requests.get("http://127.0.0.1:8080/healthcheck", timeout=5).text == "OK"


def test_unknown_service_is_a_clear_error() -> None:
    proc = subprocess.run(
        [str(CLOUD_TOOLS / "down"), "--only", "heat"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "unknown service 'heat'" in proc.stderr
    groups = "mariadb keystone swift glance rabbitmq placement nova neutron cinder"
    assert f"groups: {groups}" in proc.stderr

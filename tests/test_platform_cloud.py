"""The reference cloud's Platform services (tools/cloud, platform profile): real
Nova, Placement, Neutron and Cinder on fake drivers.

Integration tests: they start the cloud through the ``reference_cloud`` fixture.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
import requests

from tests.conftest import ReferenceCloud, cloud_tool

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("TCUP_CLOUD_PROFILE") == "storage",
        reason="TCUP_CLOUD_PROFILE=storage: the cloud runs without its Platform services",
    ),
]

PLATFORM_TYPES = {"compute", "placement", "network", "volumev3", "block-storage"}


def test_platform_services_run_and_answer(reference_cloud: ReferenceCloud) -> None:
    status = cloud_tool("status", "--only", "mariadb,rabbitmq,placement,nova,neutron,cinder")
    assert status.returncode == 0, status.stdout
    conn = reference_cloud.connect()
    access = conn.session.auth.get_access(conn.session)
    catalog = {entry["type"]: entry for entry in access.service_catalog.catalog}
    assert set(catalog) >= PLATFORM_TYPES
    for type_ in PLATFORM_TYPES:
        url = conn.session.get_endpoint(service_type=type_, interface="public")
        assert url.startswith("http://127.0.0.1:"), (type_, url)
        # The version documents need no token; below 500 means the API is up.
        root = url.split("/v")[0] if type_ in ("compute", "volumev3", "block-storage") else url
        assert requests.get(root, timeout=10).status_code < 500, (type_, root)
    # The non-admin user sees the shared external network made by up.
    public = conn.network.find_network("public")
    assert public is not None and public.is_shared and public.is_router_external


def _wait(what: str, check, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.5)


def test_server_boots_with_bound_port_and_takes_a_volume(reference_cloud: ReferenceCloud) -> None:
    admin = reference_cloud.connect(admin=True)
    name = f"tcup-test-{uuid.uuid4().hex[:8]}"
    flavor = admin.compute.create_flavor(name=name, ram=128, vcpus=1, disk=1, is_public=True)
    image = admin.image.create_image(
        name=name,
        filename=str(reference_cloud.image),
        disk_format="raw",
        container_format="bare",
        wait=True,
    )
    network = admin.network.find_network("public")
    server = volume = None
    try:
        server = admin.compute.create_server(
            name=name,
            flavor_id=flavor.id,
            image_id=image.id,
            networks=[{"uuid": network.id}],
        )
        server = admin.compute.wait_for_server(server, status="ACTIVE", wait=40)
        assert server.hypervisor_hostname == "tcup-compute"
        ports = list(admin.network.ports(device_id=server.id))
        assert len(ports) == 1
        port = ports[0]
        assert port.status == "ACTIVE"
        assert port.binding_vif_type == "ovs"
        assert port.binding_host_id == "tcup-compute"
        assert port.fixed_ips[0]["ip_address"].startswith("198.51.100.")

        volume = admin.block_storage.create_volume(name=name, size=1)
        volume = admin.block_storage.wait_for_status(volume, status="available", wait=30)
        admin.compute.create_volume_attachment(server, volume_id=volume.id)
        _wait(
            "volume attach",
            lambda: admin.block_storage.get_volume(volume.id).status == "in-use",
        )
        attachments = list(admin.compute.volume_attachments(server))
        assert [a.volume_id for a in attachments] == [volume.id]
        admin.compute.delete_volume_attachment(server, volume.id)
        _wait(
            "volume detach",
            lambda: admin.block_storage.get_volume(volume.id).status == "available",
        )
    finally:
        if server is not None:
            admin.compute.delete_server(server, force=False)
            admin.compute.wait_for_delete(server, wait=40)
        if volume is not None:
            admin.block_storage.delete_volume(volume)
        admin.image.delete_image(image.id)
        admin.compute.delete_flavor(flavor.id)

"""The reference cloud's add-on services (tools/cloud, platform profile): real
Designate on a real BIND 9 (DNS) and real Heat (Orchestration).

Integration tests: they start the cloud through the ``reference_cloud`` fixture.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
import requests

from tests.conftest import ReferenceCloud, cloud_tool

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("TCUP_CLOUD_PROFILE") == "storage",
        reason="TCUP_CLOUD_PROFILE=storage: the cloud runs without its add-on services",
    ),
]

BIND = ("127.0.0.1", "5322")  # named's port in tools/cloud/templates/named.conf

RANDOM_STRING_TEMPLATE = {
    "heat_template_version": "2018-08-31",
    "resources": {"rand": {"type": "OS::Heat::RandomString", "properties": {"length": 12}}},
    "outputs": {"value": {"value": {"get_attr": ["rand", "value"]}}},
}


def _wait(what: str, check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.5)


def _dig(name: str, rtype: str) -> str:
    proc = subprocess.run(
        ["dig", f"@{BIND[0]}", "-p", BIND[1], name, rtype, "+short", "+time=2", "+tries=1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.stdout.strip()


def _zone_name(reference_cloud: ReferenceCloud) -> str:
    """A new zone name under a TLD Designate accepts now (Tempest's DNS tests add TLDs)."""
    tlds = [tld.name.rstrip(".") for tld in reference_cloud.connect(admin=True).dns.tlds()]
    tld = "test" if not tlds or "test" in tlds else tlds[0]
    return f"addon-{uuid.uuid4().hex[:8]}.{tld}."


def test_addon_services_run_and_are_in_the_catalog(reference_cloud: ReferenceCloud) -> None:
    status = cloud_tool("status", "--only", "dns,orchestration")
    assert status.returncode == 0, status.stdout
    for name in ("named", "designate-central", "designate-producer", "heat-engine"):
        assert name in status.stdout
    conn = reference_cloud.connect()
    for type_, root in (
        ("dns", "http://127.0.0.1:9001"),
        ("orchestration", "http://127.0.0.1:8004"),
        ("cloudformation", "http://127.0.0.1:8010"),
    ):
        url = conn.session.get_endpoint(service_type=type_, interface="public")
        assert url.startswith(root), (type_, url)
        # The version documents need no token; below 500 means the API is up.
        assert requests.get(root, timeout=10).status_code < 500, (type_, root)


def test_zone_and_recordset_are_served_by_bind(reference_cloud: ReferenceCloud) -> None:
    conn = reference_cloud.connect()
    name = _zone_name(reference_cloud)
    zone = conn.dns.create_zone(name=name, email=f"hostmaster@{name.rstrip('.')}", ttl=300)
    try:
        _wait("zone ACTIVE", lambda: conn.dns.get_zone(zone).status == "ACTIVE")
        assert _dig(name, "SOA").startswith("ns1.tcup-reference.test. ")
        recordset = conn.dns.create_recordset(
            zone, name=f"www.{name}", type="A", records=["198.51.100.7"], ttl=300
        )
        _wait(
            "recordset ACTIVE",
            lambda: conn.dns.get_recordset(recordset, zone).status == "ACTIVE",
        )
        assert _dig(f"www.{name}", "A") == "198.51.100.7"
    finally:
        conn.dns.delete_zone(zone, ignore_missing=True)
    _wait("zone deleted", lambda: conn.dns.find_zone(zone.id) is None)
    assert _dig(name, "SOA") == ""


def test_heat_stack_with_a_random_string(reference_cloud: ReferenceCloud) -> None:
    conn = reference_cloud.connect()
    name = f"addon-{uuid.uuid4().hex[:8]}"
    stack = conn.orchestration.create_stack(name=name, template=RANDOM_STRING_TEMPLATE)
    try:
        _wait(
            "stack CREATE_COMPLETE",
            lambda: (
                conn.orchestration.get_stack(stack).status in ("CREATE_COMPLETE", "CREATE_FAILED")
            ),
        )
        done = conn.orchestration.get_stack(stack)
        assert done.status == "CREATE_COMPLETE", done.status_reason
        (output,) = done.outputs
        assert len(output["output_value"]) == 12
    finally:
        conn.orchestration.delete_stack(stack, ignore_missing=True)
    _wait("stack deleted", lambda: _stack_gone(conn, stack.id))


def _stack_gone(conn, stack_id: str) -> bool:
    found = conn.orchestration.find_stack(stack_id)
    return found is None or found.status == "DELETE_COMPLETE"

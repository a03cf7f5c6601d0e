"""Make the reference cloud's Platform services ready to take requests.

Run by tools/cloud/up (cloud venv) once every Platform service answers:

1. wait until nova-compute reports and its resource provider is in Placement,
   then map the compute host into cell1 (``nova-manage cell_v2 discover_hosts``);
2. wait until cinder-volume reports and the scheduler knows its pool;
3. create the external shared flat network ``public`` with a TEST-NET-2 subnet
   (198.51.100.0/24), unless it exists;
4. with --dns: wait until the DNS API answers, load Designate's pool (with
   --designate-manage; it calls designate-central), then create a zone, wait
   until it is ACTIVE (BIND serves it) and delete it again;
5. with --orchestration: wait until Heat lists stacks (heat-api and heat-engine).

Without step 1 and 2 a server or volume created right after ``up`` would fail
with "No valid host" for up to a minute. Every step is idempotent, and step 4
leaves nothing behind.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openstack.connection
import openstack.exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from provision import REGION, auth
from render import load_secrets

LOG = logging.getLogger("platform_ready")

COMPUTE_HOST = "tcup-compute"  # [DEFAULT] host in nova.conf
VOLUME_HOST = "tcup-volume"  # [DEFAULT] host in cinder.conf
PUBLIC_NETWORK = "public"
PUBLIC_SUBNET = "public-subnet"
PUBLIC_CIDR = "198.51.100.0/24"  # TEST-NET-2 (RFC 5737): never routed anywhere
# The readiness zone: a name of its own per call, under a reserved TLD (RFC 2606),
# or under one of Designate's TLDs when there are some (Tempest's DNS tests make
# them for a while): then only zones under a listed TLD can be created.
ZONE_LABELS = "ready.tcup-reference"
ZONE_TLD = "test"
ZONE_EMAIL = "hostmaster@tcup-reference.test"


class NotReady(Exception):
    pass


def wait_for(what: str, check: Callable[[], bool], deadline: float) -> None:
    """Poll check() every half second until it is true; fail at the deadline."""
    last_error = ""
    while True:
        try:
            if check():
                LOG.info("%s: ready", what)
                return
        except NotReady:
            raise
        except Exception as err:  # noqa: BLE001 - services still starting answer anything
            last_error = f" (last error: {err})"
        if time.monotonic() > deadline:
            raise NotReady(f"{what}: not ready in time{last_error}")
        time.sleep(0.5)


def compute_reports(conn: openstack.connection.Connection) -> bool:
    services = [s for s in conn.compute.services() if s.binary == "nova-compute"]
    return any(s.host == COMPUTE_HOST and s.state == "up" for s in services)


def provider_exists(conn: openstack.connection.Connection) -> bool:
    answer = conn.session.get(
        "/resource_providers",
        endpoint_filter={"service_type": "placement", "interface": "public"},
        headers={"OpenStack-API-Version": "placement 1.14"},
    )
    return any(rp["name"] == COMPUTE_HOST for rp in answer.json()["resource_providers"])


def hypervisor_listed(conn: openstack.connection.Connection) -> bool:
    return any(h.name == COMPUTE_HOST for h in conn.compute.hypervisors())


def volume_pool_known(conn: openstack.connection.Connection) -> bool:
    services = [s for s in conn.block_storage.services() if s.binary == "cinder-volume"]
    if not any(s.host.startswith(VOLUME_HOST) and s.state == "up" for s in services):
        return False
    return any(pool.name.startswith(VOLUME_HOST) for pool in conn.block_storage.backend_pools())


def discover_hosts(state: Path, nova_manage: str) -> None:
    conf = str(state / "etc" / "nova" / "nova.conf")
    subprocess.run([nova_manage, "--config-file", conf, "cell_v2", "discover_hosts"], check=True)


def public_network(conn: openstack.connection.Connection) -> None:
    network = conn.network.find_network(PUBLIC_NETWORK)
    if network is None:
        LOG.info("creating the external network %s", PUBLIC_NETWORK)
        network = conn.network.create_network(
            name=PUBLIC_NETWORK,
            is_router_external=True,
            is_shared=True,
            provider_network_type="flat",
            provider_physical_network="public",
        )
    if conn.network.find_subnet(PUBLIC_SUBNET, network_id=network.id) is None:
        LOG.info("creating the subnet %s (%s)", PUBLIC_SUBNET, PUBLIC_CIDR)
        conn.network.create_subnet(
            name=PUBLIC_SUBNET,
            network_id=network.id,
            ip_version=4,
            cidr=PUBLIC_CIDR,
            gateway_ip="198.51.100.1",
            is_dhcp_enabled=False,
        )


def load_pool(state: Path, designate_manage: str) -> None:
    """Load etc/designate/pools.yaml: BIND as the target of the default pool."""
    etc = state / "etc" / "designate"
    subprocess.run(
        [
            designate_manage,
            "--config-file",
            str(etc / "designate.conf"),
            "pool",
            "update",
            "--file",
            str(etc / "pools.yaml"),
        ],
        check=True,
    )


def zone_status(conn: openstack.connection.Connection, zone_id: str) -> str:
    status = conn.dns.get_zone(zone_id).status
    if status == "ERROR":
        raise NotReady(f"zone {zone_id} went to ERROR (see logs/designate-worker.log)")
    return status


def zone_gone(conn: openstack.connection.Connection, zone_id: str) -> bool:
    return conn.dns.find_zone(zone_id) is None


def create_zone(conn: openstack.connection.Connection, deadline: float):
    """Create the readiness zone, under a TLD Designate accepts at this moment."""
    while True:
        tlds = [tld.name.rstrip(".") for tld in conn.dns.tlds()]
        tld = ZONE_TLD if not tlds or ZONE_TLD in tlds else tlds[0]
        name = f"{secrets.token_hex(4)}.{ZONE_LABELS}.{tld}."
        try:
            return conn.dns.create_zone(
                name=name, email=ZONE_EMAIL, ttl=300, description="tools/cloud/up"
            )
        except openstack.exceptions.BadRequestException as err:
            # A TLD listed a moment ago may be gone already.
            if "Invalid TLD" not in str(err) or time.monotonic() > deadline:
                raise NotReady(f"could not create the zone {name}: {err}") from err
            time.sleep(0.5)


def dns_zone_check(conn: openstack.connection.Connection, deadline: float) -> None:
    """Create a zone, wait until it is ACTIVE, delete it and wait until it is gone."""
    zone = create_zone(conn, deadline)
    name = zone.name
    try:
        wait_for(f"zone {name} ACTIVE", lambda: zone_status(conn, zone.id) == "ACTIVE", deadline)
    finally:
        conn.dns.delete_zone(zone, ignore_missing=True)
    wait_for(f"zone {name} deleted", lambda: zone_gone(conn, zone.id), deadline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--nova-manage", required=True, help="the platform venv's nova-manage")
    parser.add_argument("--dns", action="store_true", help="check that a zone goes ACTIVE")
    parser.add_argument(
        "--designate-manage", help="the platform venv's designate-manage: load the pool first"
    )
    parser.add_argument("--orchestration", action="store_true", help="check that Heat answers")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    state = args.state.resolve()
    password = load_secrets(state)["password_admin"]
    session = ks_session.Session(auth=v3.Password(**auth("admin", password, "admin")))
    conn = openstack.connection.Connection(session=session, region_name=REGION)
    deadline = time.monotonic() + args.timeout
    try:
        wait_for("nova-compute reports", lambda: compute_reports(conn), deadline)
        if not hypervisor_listed(conn):
            wait_for("compute resource provider", lambda: provider_exists(conn), deadline)
            discover_hosts(state, args.nova_manage)
            wait_for("hypervisor mapped", lambda: hypervisor_listed(conn), deadline)
        wait_for("cinder-volume pool", lambda: volume_pool_known(conn), deadline)
        public_network(conn)
        if args.dns or args.designate_manage:
            wait_for("DNS API lists zones", lambda: list(conn.dns.zones()) is not None, deadline)
            if args.designate_manage:
                load_pool(state, args.designate_manage)
                LOG.info("Designate pool loaded")
            dns_zone_check(conn, deadline)
        if args.orchestration:
            stacks = conn.orchestration.stacks
            wait_for("Heat lists stacks", lambda: list(stacks()) is not None, deadline)
    except (NotReady, subprocess.CalledProcessError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()

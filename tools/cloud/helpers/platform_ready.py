"""Make the reference cloud's Platform services ready to take requests.

Run by tools/cloud/up (cloud venv) once every Platform service answers:

1. wait until nova-compute reports and its resource provider is in Placement,
   then map the compute host into cell1 (``nova-manage cell_v2 discover_hosts``);
2. wait until cinder-volume reports and the scheduler knows its pool;
3. create the external shared flat network ``public`` with a TEST-NET-2 subnet
   (198.51.100.0/24), unless it exists.

Without step 1 and 2 a server or volume created right after ``up`` would fail
with "No valid host" for up to a minute. Every step is idempotent.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openstack.connection
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--nova-manage", required=True, help="the platform venv's nova-manage")
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
    except (NotReady, subprocess.CalledProcessError) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()

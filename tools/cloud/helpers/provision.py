"""Create the reference cloud's users, projects, roles and catalog; write client files.

Run by tools/cloud/up with the cloud venv's Python once Keystone answers. With
--platform it adds the service users and catalog entries of Placement, Nova,
Neutron, Cinder, Designate (dns) and Heat (orchestration), and Heat's stack user
domain and roles; without, it removes the catalog entries, so the catalog holds
exactly the services that run. Every profile also has a second region, StorageOnly, with only
the identity, object-store and image endpoints (the same URLs): a real catalog
that lacks compute, network and block storage, for runs of the Platform target
that must find those services missing while the cloud keeps running them.
Every step finds before it creates, so a rerun (after a failure, or to add or
drop Glance) converges instead of failing. One openstacksdk connection does it
all: far faster than one `openstack` CLI call per resource (pitfall 17).

Writes into the state dir (mode 0600 where a password is inside):
  clouds.yaml   clouds `tcup-reference` (non-admin) and `tcup-reference-admin`
  openrc        OS_* variables of the non-admin user; openrc-admin for admin
  accounts.yaml Tempest pre-provisioned accounts (4 operators + 4 readers, 2 reseller admins)
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import openstack.connection
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from render import HEAT_DOMAIN_ADMIN, PLATFORM_USERS, SECRET_NAMES, load_secrets

LOG = logging.getLogger("provision")

AUTH_URL = "http://127.0.0.1:5000/v3"
REGION = "RegionOne"
STORAGE_REGION = "StorageOnly"
BOTH_REGIONS = (REGION, STORAGE_REGION)
DOMAIN = "default"
CLOUD = "tcup-reference"
ADMIN_CLOUD = "tcup-reference-admin"

SWIFT_URL = "http://127.0.0.1:8080/v1/AUTH_$(project_id)s"
GLANCE_URL = "http://127.0.0.1:9292"

# The Platform profile's catalog: (name, type, URL, description).
PLATFORM_CATALOG = [
    ("placement", "placement", "http://127.0.0.1:8778", "Placement"),
    ("nova", "compute", "http://127.0.0.1:8774/v2.1", "Nova compute"),
    # No /networking suffix: uWSGI serves Neutron at the root of its port.
    ("neutron", "network", "http://127.0.0.1:9696", "Neutron networking"),
    ("cinderv3", "volumev3", "http://127.0.0.1:8776/v3/$(project_id)s", "Cinder block storage"),
    ("cinder", "block-storage", "http://127.0.0.1:8776/v3/$(project_id)s", "Cinder block storage"),
    # No /dns or /heat-api prefix either: those are devstack's Apache paths.
    ("designate", "dns", "http://127.0.0.1:9001", "Designate DNS"),
    ("heat", "orchestration", "http://127.0.0.1:8004/v1/$(project_id)s", "Heat orchestration"),
    ("heat-cfn", "cloudformation", "http://127.0.0.1:8010/v1", "Heat CloudFormation API"),
]
# Heat: the domain of the users it makes for its stacks, that domain's admin, and
# the roles it hands out (heat_stack_user) or that a deployment may require.
HEAT_DOMAIN = "heat"
HEAT_ROLES = ("heat_stack_user", "heat_stack_owner")

OPERATOR_ROLES = ("member", "swiftoperator")


@dataclass(frozen=True)
class Account:
    """A Tempest pre-provisioned account: `roles` are listed in accounts.yaml;
    `extra_roles` are granted in Keystone but not listed, so Tempest never picks
    the account for a persona of those roles."""

    name: str
    project: str
    roles: tuple[str, ...]
    extra_roles: tuple[str, ...] = ()


# Four operator projects, each with an operator (Tempest's primary/member persona)
# and a reader in the same project (the images tests' project_reader persona
# must share the primary's project). Two reseller admins without `member`, so
# one is never handed out as the operator of the negative quota test; they can
# read (unlisted `reader`) for when Tempest hands one out as the "alt" user.
ACCOUNTS = [
    acct
    for i in range(1, 5)
    for acct in (
        Account(f"tcup-account-{i}", f"tcup-account-{i}", OPERATOR_ROLES),
        Account(f"tcup-account-{i}-reader", f"tcup-account-{i}", ("reader",)),
    )
] + [
    Account(f"tcup-account-{i}", f"tcup-account-{i}", ("ResellerAdmin",), ("reader",))
    for i in range(5, 7)
]


def write_private(path: Path, text: str) -> None:
    """Write a 0600 file in one step: a client reading it never sees it half-written."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class Provisioner:
    def __init__(self, conn: openstack.connection.Connection, passwords: dict[str, str]):
        self.conn = conn
        self.identity = conn.identity
        self.passwords = passwords
        self.roles: dict[str, object] = {}

    def role(self, name: str):
        if name not in self.roles:
            role = self.identity.find_role(name) or self.identity.create_role(name=name)
            self.roles[name] = role
        return self.roles[name]

    def project(self, name: str, description: str):
        found = self.identity.find_project(name, domain_id=DOMAIN)
        if found:
            return found
        LOG.info("creating project %s", name)
        return self.identity.create_project(
            name=name, domain_id=DOMAIN, description=description, is_enabled=True
        )

    def user(self, name: str, project, roles: tuple[str, ...]):
        user = self.identity.find_user(name, domain_id=DOMAIN)
        if not user:
            LOG.info("creating user %s", name)
            user = self.identity.create_user(
                name=name,
                domain_id=DOMAIN,
                password=self.passwords[name],
                default_project_id=project.id,
                is_enabled=True,
            )
        for role in roles:
            # PUT on a role assignment is idempotent in Keystone.
            self.identity.assign_project_role_to_user(project, user, self.role(role))
        return user

    def heat_domain(self) -> None:
        """The stack user domain ``heat`` and its admin (role admin on the domain)."""
        domain = self.identity.find_domain(HEAT_DOMAIN)
        if domain is None:
            LOG.info("creating domain %s", HEAT_DOMAIN)
            domain = self.identity.create_domain(
                name=HEAT_DOMAIN, description="Users of Heat's stacks", is_enabled=True
            )
        user = self.identity.find_user(HEAT_DOMAIN_ADMIN, domain_id=domain.id)
        if user is None:
            LOG.info("creating user %s in domain %s", HEAT_DOMAIN_ADMIN, HEAT_DOMAIN)
            user = self.identity.create_user(
                name=HEAT_DOMAIN_ADMIN,
                domain_id=domain.id,
                password=self.passwords[HEAT_DOMAIN_ADMIN],
                is_enabled=True,
            )
        self.identity.assign_domain_role_to_user(domain, user, self.role("admin"))

    def region(self, name: str, description: str) -> None:
        if self.identity.find_region(name) is None:
            LOG.info("creating region %s", name)
            self.identity.create_region(id=name, description=description)

    def service(
        self,
        name: str,
        type_: str,
        url: str | None,
        description: str,
        regions: tuple[str, ...] = (REGION,),
    ) -> None:
        """Register a service with public/internal/admin endpoints in each of ``regions``
        (and none elsewhere), or remove it (url None)."""
        existing = [s for s in self.identity.services() if s.type == type_]
        if url is None:
            for service in existing:
                LOG.info("removing service %s (%s) from the catalog", service.name, type_)
                for endpoint in self.identity.endpoints(service_id=service.id):
                    self.identity.delete_endpoint(endpoint)
                self.identity.delete_service(service)
            return
        service = existing[0] if existing else None
        if service is None:
            LOG.info("registering service %s (%s)", name, type_)
            service = self.identity.create_service(
                name=name, type=type_, description=description, is_enabled=True
            )
        have: dict[tuple[str, str], object] = {}
        for endpoint in self.identity.endpoints(service_id=service.id):
            key = (endpoint.region_id, endpoint.interface)
            if endpoint.region_id not in regions or key in have or endpoint.url != url:
                LOG.info("removing endpoint %s %s of %s", endpoint.region_id, endpoint.url, type_)
                self.identity.delete_endpoint(endpoint)
            else:
                have[key] = endpoint
        for region in regions:
            for interface in ("public", "internal", "admin"):
                if (region, interface) in have:
                    continue
                self.identity.create_endpoint(
                    service_id=service.id, interface=interface, url=url, region_id=region
                )


def auth(username: str, password: str, project: str) -> dict[str, str]:
    return {
        "auth_url": AUTH_URL,
        "username": username,
        "password": password,
        "project_name": project,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }


def cloud_entry(username: str, password: str, project: str) -> dict:
    return {
        "auth_type": "password",
        "auth": auth(username, password, project),
        "region_name": REGION,
        # openstacksdk accepts only these for --os-region-name / region_name=
        "regions": list(BOTH_REGIONS),
        "identity_api_version": 3,
        "interface": "public",
    }


def openrc(username: str, password: str, project: str) -> str:
    env = {
        "OS_AUTH_TYPE": "password",
        "OS_AUTH_URL": AUTH_URL,
        "OS_USERNAME": username,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": REGION,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_INTERFACE": "public",
    }
    lines = ["# Reference cloud credentials, written by tools/cloud/up. Use: . <this file>"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    return "\n".join(lines) + "\n"


def provision(state: Path, glance: bool, platform: bool = False) -> None:
    secrets = load_secrets(state, [*SECRET_NAMES, *(a.name for a in ACCOUNTS)])
    passwords = {
        key.removeprefix("password_"): value
        for key, value in secrets.items()
        if key.startswith("password_")
    }
    # An explicit session: no OS_* variable or clouds.yaml of the caller leaks in.
    session = ks_session.Session(auth=v3.Password(**auth("admin", passwords["admin"], "admin")))
    conn = openstack.connection.Connection(session=session, region_name=REGION)
    p = Provisioner(conn, passwords)

    for role in ("member", "swiftoperator", "ResellerAdmin", "service"):
        p.role(role)
    service_project = p.project("service", "Service users of the reference cloud")
    p.user("swift", service_project, ("admin", "service"))
    p.user("glance", service_project, ("admin", "service"))
    if platform:
        for name in PLATFORM_USERS:
            p.user(name, service_project, ("admin", "service"))
        for role in HEAT_ROLES:
            p.role(role)
        p.heat_domain()
    tcup_project = p.project("tcup", "Non-admin project of the reference cloud")
    p.user("tcup", tcup_project, OPERATOR_ROLES)
    for account in ACCOUNTS:
        project = p.project(account.project, "Tempest pre-provisioned accounts")
        p.user(account.name, project, account.roles + account.extra_roles)

    p.region(STORAGE_REGION, "The same cloud without compute, network and block storage")
    # keystone-manage bootstrap registered identity in RegionOne only.
    p.service("keystone", "identity", AUTH_URL, "Keystone identity", BOTH_REGIONS)
    p.service("swift", "object-store", SWIFT_URL, "Swift object storage", BOTH_REGIONS)
    p.service(
        "glance", "image", GLANCE_URL if glance else None, "Glance image service", BOTH_REGIONS
    )
    for name, type_, url, description in PLATFORM_CATALOG:
        p.service(name, type_, url if platform else None, description)

    clouds = {
        "clouds": {
            CLOUD: cloud_entry("tcup", passwords["tcup"], "tcup"),
            ADMIN_CLOUD: cloud_entry("admin", passwords["admin"], "admin"),
        }
    }
    write_private(state / "clouds.yaml", yaml.safe_dump(clouds, sort_keys=False))
    write_private(state / "openrc", openrc("tcup", passwords["tcup"], "tcup"))
    write_private(state / "openrc-admin", openrc("admin", passwords["admin"], "admin"))
    accounts = [
        {
            "username": account.name,
            "password": passwords[account.name],
            "project_name": account.project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
            "roles": list(account.roles),
        }
        for account in ACCOUNTS
    ]
    write_private(state / "accounts.yaml", yaml.safe_dump(accounts, sort_keys=False))
    LOG.info("wrote clouds.yaml, openrc, openrc-admin and accounts.yaml in %s", state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--no-glance", action="store_true")
    parser.add_argument("--platform", action="store_true", help="Nova, Neutron, Cinder, Placement")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    provision(args.state.resolve(), glance=not args.no_glance, platform=args.platform)


if __name__ == "__main__":
    main()

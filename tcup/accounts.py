"""Tempest test accounts that tcup makes itself when it has admin rights.

Pre-provisioned accounts make a run much faster than dynamic credentials:
Tempest then creates no project and user for every test class.  Writing an
accounts file by hand is a chore, though, so with admin credentials
``--accounts auto`` makes a pool for the run and removes it afterwards.

The pool is sized to the run's concurrency, because Tempest hands each test
class its own accounts and fails a class at once when none is free.  For each
test worker there are:

* two accounts with the member role (and the object-storage operator role),
  each in its own project: a class's ``primary`` and ``alt`` (or ``operator``
  and ``operator_alt``) credentials;
* one account with only the reader role, in the first of those projects,
  unless every planned test is an object-storage or identity test (their
  Tempest classes never ask for a reader, and each account costs Keystone a
  bcrypt hash to make and more to log in with);
* one account with only the reseller-admin role when the cloud has object
  storage and that role exists, also in the first project (Swift lets a
  reseller admin into any account, so it needs no project of its own); but
  no more than the plan has classes asking for one (see
  :func:`resellers_needed`; two classes in Tempest 47).

Every name starts with ``tcup-<run id>-``, every project says in its
description which tcup run made it, and the passwords are random and never
leave the workspace's 0600 accounts file.

For compute tests, each project gets a network and subnet of its own
(``resources: network`` in the accounts file) unless the caller says a shared
network serves them all.  When the pool is removed, whatever the tests left
in its projects (servers, floating IPs, routers, ports, subnets, networks,
security groups, volume snapshots, volumes) and the keypairs of its users
are deleted first; what cannot be deleted is named.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tcup.errors import PreflightError
from tcup.files import write_private

LOG = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: what ``--accounts`` takes instead of a file to make the pool
AUTO = "auto"

MEMBER_ROLE = "member"
READER_ROLE = "reader"
RESELLER_ROLE = "ResellerAdmin"


@dataclass(frozen=True)
class AccountSpec:
    """One account to make: its name, its project's name and its roles."""

    username: str
    project: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Account:
    """One account made in the cloud."""

    username: str
    password: str = field(repr=False)
    project_name: str
    domain_name: str
    roles: tuple[str, ...]
    network: str | None = None  # the project's own network, for servers Tempest boots

    def tempest_entry(self) -> dict[str, Any]:
        """This account as an entry of Tempest's accounts.yaml."""
        entry: dict[str, Any] = {
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
            "user_domain_name": self.domain_name,
            "project_domain_name": self.domain_name,
            "roles": list(self.roles),
        }
        if self.network:
            entry["resources"] = {"network": self.network}
        return entry


@dataclass
class Pool:
    """The accounts of one run, the file Tempest reads them from, and what to delete."""

    path: Path
    accounts: list[Account] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list, repr=False)
    project_ids: list[str] = field(default_factory=list, repr=False)
    #: catalog services whose leftovers in the pool's projects are deleted with it
    sweep: tuple[str, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(a.password for a in self.accounts)


def layout(
    prefix: str,
    concurrency: int,
    *,
    operator_role: str = MEMBER_ROLE,
    reader: bool = True,
    resellers: int = 0,
) -> list[AccountSpec]:
    """The accounts a run with ``concurrency`` workers needs (see the module doc).

    ``resellers``: how many of the workers get a reseller-admin account too.
    """
    member_roles = tuple(dict.fromkeys((MEMBER_ROLE, operator_role)))
    specs: list[AccountSpec] = []
    for worker in range(1, max(concurrency, 1) + 1):
        first = f"{prefix}-{worker}a"
        specs.append(AccountSpec(first, first, member_roles))
        second = f"{prefix}-{worker}b"
        specs.append(AccountSpec(second, second, member_roles))
        if reader:
            specs.append(AccountSpec(f"{prefix}-{worker}r", first, (READER_ROLE,)))
        if worker <= resellers:
            specs.append(AccountSpec(f"{prefix}-{worker}s", first, (RESELLER_ROLE,)))
    return specs


#: catalog services whose Tempest classes ask for no reader credentials
_NO_READER_SERVICES = frozenset({"object-store", "identity"})


def needs_reader(services: Iterable[str]) -> bool:
    """Whether tests of these catalog services may ask for ``project_reader`` credentials.

    Tempest's compute, network, volume and image classes do; its object-storage
    classes ask for operators and a reseller, and the identity classes an
    interoperability guideline holds ask only for a primary.
    """
    return any(service not in _NO_READER_SERVICES for service in services)


#: the Tempest modules whose classes ask for ``reseller`` credentials
#: (``credentials = [..., ['reseller', reseller_admin_role]]``): the account quotas
_RESELLER_MODULES = ("tempest.api.object_storage.test_account_quotas",)


def resellers_needed(test_names: Iterable[str], concurrency: int) -> int:
    """Reseller-admin accounts a run of ``test_names`` needs: one per class asking
    for one, as Tempest holds a class's accounts until the class ends, and never
    more than the workers that could hold them at once."""
    classes = {
        name.partition("[")[0].rsplit(".", 1)[0]
        for name in test_names
        if name.startswith(_RESELLER_MODULES)
    }
    return min(len(classes), max(concurrency, 1))


def run_prefix() -> str:
    """``tcup-<8 hex>``: short enough for any Keystone name limit, unique per run."""
    return f"tcup-{secrets.token_hex(4)}"


def provision(
    conn: Any,
    path: Path,
    concurrency: int,
    *,
    domain: str | None = None,
    object_storage: bool = False,
    operator_role: str = MEMBER_ROLE,
    prefix: str | None = None,
    sweep: Sequence[str] = (),
    project_networks: bool = False,
    reader: bool = True,
    resellers: int | None = None,
) -> Pool:
    """Make the pool with the admin connection ``conn`` and write ``path`` (mode 0600).

    ``conn`` is an ``openstack.connection.Connection``.  On any failure what
    was made so far is removed again before the error is raised.  ``sweep``
    names the services (``compute``, ``network``, ``block-storage``) whose
    leftovers :func:`remove` deletes; ``project_networks`` gives every project
    a network and subnet of its own (they are swept with the project);
    ``reader`` False makes no reader accounts (see :func:`needs_reader`);
    ``resellers`` caps the reseller-admin accounts (see
    :func:`resellers_needed`; None: one per worker).
    """
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as os_exc

    started = time.monotonic()
    prefix = prefix or run_prefix()
    pool = Pool(path=path, sweep=tuple(sweep))
    try:
        domain_obj = _domain(conn, domain)
        roles = _roles(conn, _role_names(operator_role))
        if roles.get(MEMBER_ROLE) is None:
            raise PreflightError(
                f"the cloud has no '{MEMBER_ROLE}' role, so tcup cannot make test accounts",
                hint="give an accounts file with --accounts FILE instead",
            )
        if roles.get(operator_role) is None:
            roles[operator_role] = roles[MEMBER_ROLE]
        specs = layout(
            prefix,
            concurrency,
            operator_role=operator_role,
            reader=reader and roles.get(READER_ROLE) is not None,
            resellers=(concurrency if resellers is None else resellers)
            if object_storage and roles.get(RESELLER_ROLE) is not None
            else 0,
        )
        # Keystone hashes every password (a quarter second of bcrypt), so the
        # projects, then the users, are made a few at a time.
        names = list(dict.fromkeys(spec.project for spec in specs))
        made = _in_parallel(
            lambda name: _make_project(conn, pool, name, domain_obj, prefix, project_networks),
            names,
        )
        projects = dict(zip(names, made, strict=True))
        pool.accounts.extend(
            _in_parallel(
                lambda spec: _make_account(
                    conn, pool, spec, projects[spec.project], domain_obj, roles, project_networks
                ),
                specs,
            )
        )
        write_accounts_file(path, pool.accounts)
    except os_exc.ForbiddenException as exc:
        remove(conn, pool)
        raise PreflightError(
            "these credentials may not create projects and users, so tcup cannot make "
            f"test accounts: {_short(exc)}",
            hint="run with admin credentials, or give an accounts file with --accounts FILE",
        ) from exc
    except (os_exc.SDKException, ksa_exc.ClientException) as exc:
        left = remove(conn, pool)
        raise PreflightError(
            f"making Tempest test accounts failed: {_short(exc)}",
            hint=f"delete by hand what could not be removed: {', '.join(left)}" if left else None,
        ) from exc
    except BaseException:
        remove(conn, pool)
        raise
    LOG.info(
        "made %d Tempest test accounts (%s-*) in %.1f s",
        len(pool.accounts),
        prefix,
        time.monotonic() - started,
    )
    return pool


def remove(conn: Any, pool: Pool) -> list[str]:
    """Delete the pool's users and projects and its file; returns what could not be deleted."""
    left: list[str] = _sweep(conn, pool) if pool.sweep else []
    left += _delete_each("user", pool.user_ids, conn.identity.delete_user)
    left += _delete_each("project", pool.project_ids, conn.identity.delete_project)
    with contextlib.suppress(FileNotFoundError):
        pool.path.unlink()
    return left


def _delete_each(kind: str, ids: list[str], delete: Callable[..., Any]) -> list[str]:
    """Delete every id (each leaves ``ids`` once gone); returns what could not be deleted."""

    def one(ident: str) -> str | None:
        try:
            delete(ident, ignore_missing=True)
        except Exception as exc:  # noqa: BLE001 - the cloud may be gone: name what is left
            LOG.warning("could not delete test %s %s: %s", kind, ident, _short(exc))
            return f"{kind} {ident}"
        ids.remove(ident)
        return None

    return [what for what in _in_parallel(one, list(ids)) if what]


#: Keystone calls in flight at once while the pool is made or removed
PARALLEL = 4


def _in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` over ``items`` on a few threads, results in order.

    Every call ends before this returns, so nothing is still being made when
    the caller cleans up; the first exception (in ``items`` order) is raised.
    """
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(min(PARALLEL, len(items))) as pool:
        futures = [pool.submit(work, item) for item in items]
        wait(futures)
    return [f.result() for f in futures]


def _make_project(conn: Any, pool: Pool, name: str, domain: Any, prefix: str, network: bool) -> Any:
    """A project of the pool (recorded in ``pool`` at once), with its network if asked."""
    project = conn.identity.create_project(
        name=name,
        domain_id=domain.id,
        description=f"Tempest test account made by tcup run {prefix}; safe to delete",
    )
    pool.project_ids.append(project.id)
    if network:
        _project_network(conn, project, name)
    return project


def _make_account(
    conn: Any,
    pool: Pool,
    spec: AccountSpec,
    project: Any,
    domain: Any,
    roles: dict[str, Any],
    network: bool,
) -> Account:
    """A user of the pool (recorded in ``pool`` at once) with its roles on ``project``."""
    password = secrets.token_urlsafe(24)
    user = conn.identity.create_user(
        name=spec.username, password=password, domain_id=domain.id, default_project_id=project.id
    )
    pool.user_ids.append(user.id)
    for role in dict.fromkeys(spec.roles):
        conn.identity.assign_project_role_to_user(project, user, roles[role])
    return Account(
        spec.username,
        password,
        spec.project,
        domain.name,
        spec.roles,
        spec.project if network else None,
    )


def _project_network(conn: Any, project: Any, name: str) -> None:
    """A network and IPv4 subnet owned by ``project``, named like it."""
    network = conn.network.create_network(name=name, project_id=project.id)
    conn.network.create_subnet(
        name=name,
        network_id=network.id,
        project_id=project.id,
        ip_version=4,
        cidr=PROJECT_CIDR,
    )


#: each project's own network: projects never share it, so one range serves all
PROJECT_CIDR = "10.254.0.0/24"
_SWEEP_WAIT = 60.0


def _sweep(conn: Any, pool: Pool) -> list[str]:
    """Delete what tests left in the pool's projects; returns what could not be deleted."""
    left: list[str] = []
    projects = set(pool.project_ids)

    def attempt(what: str, delete: Any, *args: Any, **kwargs: Any) -> None:
        try:
            delete(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every leftover is named, none stops the rest
            left.append(what)
            LOG.warning("could not delete %s: %s", what, _short(exc))

    def listed(what: str, lister: Any, **query: Any) -> list[Any]:
        try:
            return list(lister(**query))
        except Exception as exc:  # noqa: BLE001
            owner = query.get("project_id") or query.get("user_id") or query.get("device_id")
            left.append(f"{what} of {owner} (could not be listed)")
            LOG.info("could not list %s of %s: %s", what, owner, _short(exc))
            return []

    if "compute" in pool.sweep:
        servers = [
            s
            for p in projects
            for s in listed("servers", conn.compute.servers, all_projects=True, project_id=p)
        ]
        for server in servers:
            attempt(f"server {server.name} ({server.id})", conn.compute.delete_server, server)
        deadline = time.monotonic() + _SWEEP_WAIT
        for server in servers:
            with contextlib.suppress(Exception):
                conn.compute.wait_for_delete(server, wait=max(1, int(deadline - time.monotonic())))
        for user in pool.user_ids:
            for keypair in listed("keypairs", conn.compute.keypairs, user_id=user):
                attempt(
                    f"keypair {keypair.name} of user {user}",
                    conn.compute.delete_keypair,
                    keypair,
                    user_id=user,
                )
    if "block-storage" in pool.sweep:
        for p in projects:
            for snap in listed(
                "snapshots", conn.block_storage.snapshots, all_projects=True, project_id=p
            ):
                attempt(f"volume snapshot {snap.id}", conn.block_storage.delete_snapshot, snap)
            for volume in listed(
                "volumes", conn.block_storage.volumes, all_projects=True, project_id=p
            ):
                attempt(f"volume {volume.id}", conn.block_storage.delete_volume, volume)
    if "network" in pool.sweep:
        net = conn.network
        for p in projects:
            for fip in listed("floating IPs", net.ips, project_id=p):
                attempt(f"floating IP {fip.floating_ip_address}", net.delete_ip, fip)
            for router in listed("routers", net.routers, project_id=p):
                for port in listed("ports", net.ports, device_id=router.id):
                    with contextlib.suppress(Exception):
                        net.remove_interface_from_router(router, port_id=port.id)
                attempt(f"router {router.name} ({router.id})", net.delete_router, router)
            for port in listed("ports", net.ports, project_id=p):
                if not str(port.device_owner or "").startswith("network:dhcp"):
                    attempt(f"port {port.id}", net.delete_port, port)
            for subnet in listed("subnets", net.subnets, project_id=p):
                attempt(f"subnet {subnet.name} ({subnet.id})", net.delete_subnet, subnet)
            for network in listed("networks", net.networks, project_id=p):
                attempt(f"network {network.name} ({network.id})", net.delete_network, network)
            for group in listed("security groups", net.security_groups, project_id=p):
                attempt(
                    f"security group {group.name} ({group.id})", net.delete_security_group, group
                )
    return left


def write_accounts_file(path: Path, accounts: Iterable[Account]) -> Path:
    """Tempest's accounts.yaml for ``accounts``; created with mode 0600."""
    text = yaml.safe_dump([a.tempest_entry() for a in accounts], sort_keys=False)
    return write_private(path, text.encode("utf-8"))


def _role_names(operator_role: str) -> Sequence[str]:
    return tuple(dict.fromkeys((MEMBER_ROLE, operator_role, READER_ROLE, RESELLER_ROLE)))


def _roles(conn: Any, names: Iterable[str]) -> dict[str, Any]:
    """The roles called ``names`` (None for a missing one), from one listing."""
    by_name = {role.name: role for role in conn.identity.roles()}
    return {name: by_name.get(name) for name in names}


def _domain(conn: Any, name: str | None) -> Any:
    wanted = name or "Default"
    found = conn.identity.find_domain(wanted)
    if found is None and wanted.lower() == "default":
        found = conn.identity.get_domain("default")
    if found is None:
        raise PreflightError(f"domain '{wanted}' not found, so tcup cannot make test accounts")
    return found


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."

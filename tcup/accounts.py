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
* one account with only the reader role, in the first of those projects;
* one account with only the reseller-admin role when the cloud has object
  storage and that role exists.

Every name starts with ``tcup-<run id>-``, every project says in its
description which tcup run made it, and the passwords are random and never
leave the workspace's 0600 accounts file.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tcup.errors import PreflightError
from tcup.files import write_private

LOG = logging.getLogger(__name__)

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

    def tempest_entry(self) -> dict[str, Any]:
        """This account as an entry of Tempest's accounts.yaml."""
        return {
            "username": self.username,
            "password": self.password,
            "project_name": self.project_name,
            "user_domain_name": self.domain_name,
            "project_domain_name": self.domain_name,
            "roles": list(self.roles),
        }


@dataclass
class Pool:
    """The accounts of one run, the file Tempest reads them from, and what to delete."""

    path: Path
    accounts: list[Account] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list, repr=False)
    project_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(a.password for a in self.accounts)


def layout(
    prefix: str,
    concurrency: int,
    *,
    operator_role: str = MEMBER_ROLE,
    reader: bool = True,
    reseller: bool = False,
) -> list[AccountSpec]:
    """The accounts a run with ``concurrency`` workers needs (see the module doc)."""
    member_roles = tuple(dict.fromkeys((MEMBER_ROLE, operator_role)))
    specs: list[AccountSpec] = []
    for worker in range(1, max(concurrency, 1) + 1):
        first = f"{prefix}-{worker}a"
        specs.append(AccountSpec(first, first, member_roles))
        second = f"{prefix}-{worker}b"
        specs.append(AccountSpec(second, second, member_roles))
        if reader:
            specs.append(AccountSpec(f"{prefix}-{worker}r", first, (READER_ROLE,)))
        if reseller:
            name = f"{prefix}-{worker}s"
            specs.append(AccountSpec(name, name, (RESELLER_ROLE,)))
    return specs


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
) -> Pool:
    """Make the pool with the admin connection ``conn`` and write ``path`` (mode 0600).

    ``conn`` is an ``openstack.connection.Connection``.  On any failure what
    was made so far is removed again before the error is raised.
    """
    from openstack import exceptions as os_exc

    prefix = prefix or run_prefix()
    pool = Pool(path=path)
    try:
        domain_obj = _domain(conn, domain)
        roles = {name: conn.identity.find_role(name) for name in _role_names(operator_role)}
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
            reader=roles.get(READER_ROLE) is not None,
            reseller=object_storage and roles.get(RESELLER_ROLE) is not None,
        )
        projects: dict[str, Any] = {}
        for spec in specs:
            if spec.project not in projects:
                project = conn.identity.create_project(
                    name=spec.project,
                    domain_id=domain_obj.id,
                    description=f"Tempest test account made by tcup run {prefix}; safe to delete",
                )
                projects[spec.project] = project
                pool.project_ids.append(project.id)
            password = secrets.token_urlsafe(24)
            user = conn.identity.create_user(
                name=spec.username,
                password=password,
                domain_id=domain_obj.id,
                default_project_id=projects[spec.project].id,
            )
            pool.user_ids.append(user.id)
            for role in dict.fromkeys(spec.roles):
                conn.identity.assign_project_role_to_user(projects[spec.project], user, roles[role])
            pool.accounts.append(
                Account(spec.username, password, spec.project, domain_obj.name, spec.roles)
            )
        write_accounts_file(path, pool.accounts)
    except os_exc.ForbiddenException as exc:
        remove(conn, pool)
        raise PreflightError(
            "these credentials may not create projects and users, so tcup cannot make "
            f"test accounts: {_short(exc)}",
            hint="run with admin credentials, or give an accounts file with --accounts FILE",
        ) from exc
    except os_exc.SDKException as exc:
        remove(conn, pool)
        raise PreflightError(f"making Tempest test accounts failed: {_short(exc)}") from exc
    except BaseException:
        remove(conn, pool)
        raise
    LOG.info("made %d Tempest test accounts (%s-*)", len(pool.accounts), prefix)
    return pool


def remove(conn: Any, pool: Pool) -> list[str]:
    """Delete the pool's users and projects and its file; returns what could not be deleted."""
    from openstack import exceptions as os_exc

    left: list[str] = []
    for kind, ids, delete in (
        ("user", pool.user_ids, conn.identity.delete_user),
        ("project", pool.project_ids, conn.identity.delete_project),
    ):
        for ident in list(ids):
            try:
                delete(ident, ignore_missing=True)
                ids.remove(ident)
            except os_exc.SDKException as exc:
                left.append(f"{kind} {ident}")
                LOG.warning("could not delete test %s %s: %s", kind, ident, _short(exc))
    with contextlib.suppress(FileNotFoundError):
        pool.path.unlink()
    return left


def write_accounts_file(path: Path, accounts: Iterable[Account]) -> Path:
    """Tempest's accounts.yaml for ``accounts``; created with mode 0600."""
    text = yaml.safe_dump([a.tempest_entry() for a in accounts], sort_keys=False)
    return write_private(path, text.encode("utf-8"))


def _role_names(operator_role: str) -> Sequence[str]:
    return tuple(dict.fromkeys((MEMBER_ROLE, operator_role, READER_ROLE, RESELLER_ROLE)))


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

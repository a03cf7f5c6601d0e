"""The test-account pool tcup makes with admin rights (``--accounts auto``).

A fake identity proxy stands in for Keystone here, to reach the error paths
(refused, half-made pool); the real pool against the reference cloud is made
and removed in ``tests/integration/test_run_reference.py``.
"""

from __future__ import annotations

import itertools
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from openstack import exceptions as os_exc

from tcup import accounts
from tcup.errors import PreflightError


class FakeIdentity:
    """Just enough of openstacksdk's identity proxy; records what exists."""

    def __init__(self, roles=("member", "reader", "ResellerAdmin"), fail_on_user: int = 0):
        self._roles = {name: SimpleNamespace(id=f"role-{name}", name=name) for name in roles}
        self.users: dict[str, SimpleNamespace] = {}
        self.projects: dict[str, SimpleNamespace] = {}
        self.assignments: list[tuple[str, str, str]] = []
        self.fail_on_user = fail_on_user
        self.refuse_delete = False
        self._ids = itertools.count(1)

    def find_domain(self, name):  # noqa: ANN001, ANN201
        return SimpleNamespace(id="default", name="Default") if name == "Default" else None

    def get_domain(self, ident):  # noqa: ANN001, ANN201
        return SimpleNamespace(id=ident, name="Default")

    def roles(self):  # noqa: ANN201
        return iter(self._roles.values())

    def create_project(self, name, domain_id, description):  # noqa: ANN001, ANN201
        project = SimpleNamespace(id=f"p{next(self._ids)}", name=name, description=description)
        self.projects[project.id] = project
        return project

    def create_user(self, name, password, domain_id, default_project_id):  # noqa: ANN001, ANN201
        if self.fail_on_user and len(self.users) + 1 == self.fail_on_user:
            raise os_exc.ForbiddenException("You are not authorized to perform the action")
        user = SimpleNamespace(id=f"u{next(self._ids)}", name=name, password=password)
        self.users[user.id] = user
        return user

    def assign_project_role_to_user(self, project, user, role):  # noqa: ANN001, ANN201
        self.assignments.append((project.name, user.name, role.name))

    def delete_user(self, ident, ignore_missing=True):  # noqa: ANN001, ANN201
        if self.refuse_delete:
            raise os_exc.HttpException("503 Service Unavailable")
        self.users.pop(ident, None)

    def delete_project(self, ident, ignore_missing=True):  # noqa: ANN001, ANN201
        self.projects.pop(ident, None)


def _conn(identity: FakeIdentity) -> SimpleNamespace:
    return SimpleNamespace(identity=identity)


def test_layout_gives_each_worker_two_members_a_reader_and_a_reseller() -> None:
    specs = accounts.layout("tcup-x", 2, operator_role="swiftoperator", resellers=2)
    assert len(specs) == 8
    members = [s for s in specs if "member" in s.roles]
    assert len(members) == 4 and all(s.roles == ("member", "swiftoperator") for s in members)
    assert len({s.project for s in members}) == 4  # primary and alt never share a project
    readers = [s for s in specs if s.roles == ("reader",)]
    assert [r.project for r in readers] == ["tcup-x-1a", "tcup-x-2a"]
    assert [s.username for s in specs if s.roles == ("ResellerAdmin",)] == [
        "tcup-x-1s",
        "tcup-x-2s",
    ]
    # a reseller admin may use any account: it shares the worker's first project
    assert [s.project for s in specs if s.roles == ("ResellerAdmin",)] == ["tcup-x-1a", "tcup-x-2a"]
    assert len(accounts.layout("tcup-x", 3)) == 9  # no reseller without object storage


def test_resellers_only_for_the_classes_that_ask_for_one(tmp_path: Path) -> None:
    quotas = "tempest.api.object_storage.test_account_quotas"
    names = [
        f"{quotas}.AccountQuotasTest.test_admin_modify_quota",
        f"{quotas}.AccountQuotasTest.test_upload_valid_object",
        f"{quotas}_negative.AccountQuotasNegativeTest.test_user_modify_quota[id-x,negative]",
        "tempest.api.object_storage.test_account_services.AccountTest.test_list_containers",
    ]
    assert accounts.resellers_needed(names, 4) == 2  # two classes, whatever the workers
    assert accounts.resellers_needed(names, 1) == 1
    assert accounts.resellers_needed(names[3:], 4) == 0
    assert [s.username for s in accounts.layout("p", 3, resellers=1) if "s" in s.username[-1]] == [
        "p-1s"
    ]
    identity = FakeIdentity()
    pool = accounts.provision(
        _conn(identity), tmp_path / "a.yaml", 4, object_storage=True, reader=False, resellers=2
    )
    assert sorted(a.roles for a in pool.accounts).count(("ResellerAdmin",)) == 2
    assert len(pool.accounts) == 10


def test_provision_writes_a_private_tempest_accounts_file(tmp_path: Path) -> None:
    identity = FakeIdentity()
    path = tmp_path / "accounts.yaml"
    pool = accounts.provision(_conn(identity), path, 2, object_storage=True, prefix="tcup-t")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = yaml.safe_load(path.read_text())
    assert len(entries) == len(pool.accounts) == len(identity.users) == 8
    assert {e["username"] for e in entries} == {u.name for u in identity.users.values()}
    assert len(set(pool.secrets)) == 8 and all(len(s) >= 24 for s in pool.secrets)
    assert all(e["user_domain_name"] == "Default" for e in entries)
    assert ("tcup-t-1a", "tcup-t-1r", "reader") in identity.assignments
    assert all("made by tcup run tcup-t" in p.description for p in identity.projects.values())
    assert accounts.remove(_conn(identity), pool) == []
    assert not identity.users and not identity.projects and not path.exists()


def test_no_reader_role_means_no_reader_accounts(tmp_path: Path) -> None:
    identity = FakeIdentity(roles=("member",))
    pool = accounts.provision(_conn(identity), tmp_path / "a.yaml", 1, object_storage=True)
    assert [a.roles for a in pool.accounts] == [("member",), ("member",)]


def test_a_storage_run_makes_no_reader_accounts(tmp_path: Path) -> None:
    identity = FakeIdentity()
    pool = accounts.provision(
        _conn(identity), tmp_path / "a.yaml", 2, object_storage=True, reader=False
    )
    assert sorted(a.roles for a in pool.accounts).count(("ResellerAdmin",)) == 2
    assert len(pool.accounts) == len(identity.users) == 6
    assert len(identity.projects) == 4  # two per worker: primary and alt
    assert not [a for a in pool.accounts if a.roles == ("reader",)]


def test_only_object_storage_and_identity_tests_go_without_a_reader() -> None:
    assert not accounts.needs_reader(["object-store", "identity"])
    assert not accounts.needs_reader([])
    for service in ("compute", "network", "block-storage", "image", "dns", "orchestration"):
        assert accounts.needs_reader(["object-store", service]), service


def test_a_cloud_without_member_role_is_a_clear_error(tmp_path: Path) -> None:
    identity = FakeIdentity(roles=("reader",))
    with pytest.raises(PreflightError, match="no 'member' role"):
        accounts.provision(_conn(identity), tmp_path / "a.yaml", 1)
    assert not identity.projects


def test_refused_half_way_removes_what_was_made(tmp_path: Path) -> None:
    identity = FakeIdentity(fail_on_user=3)
    path = tmp_path / "a.yaml"
    with pytest.raises(PreflightError) as caught:
        accounts.provision(_conn(identity), path, 2)
    assert "may not create projects and users" in caught.value.message
    assert "--accounts FILE" in caught.value.hint
    assert not identity.users and not identity.projects and not path.exists()


def test_remove_reports_what_it_could_not_delete(tmp_path: Path) -> None:
    identity = FakeIdentity()
    pool = accounts.provision(_conn(identity), tmp_path / "a.yaml", 1)
    identity.refuse_delete = True
    left = accounts.remove(_conn(identity), pool)
    assert left == [f"user {u}" for u in identity.users]
    assert not identity.projects


class FakeCloud:
    """Compute, block-storage and network proxies holding what tests left behind."""

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.made: list[tuple[str, str]] = []
        self.refuse: set[str] = set()
        self.items: dict[str, list[SimpleNamespace]] = {}

    def lister(self, kind: str):  # noqa: ANN201
        def items(**query):  # noqa: ANN003, ANN202
            project = query.get("project_id")
            user = query.get("user_id")
            return [
                i
                for i in self.items.get(kind, [])
                if (project is None or i.project_id == project) and (user is None or i.user == user)
            ]

        return items

    def deleter(self, kind: str):  # noqa: ANN201
        def delete(item, **kwargs):  # noqa: ANN001, ANN003, ANN202
            if item.id in self.refuse:
                raise os_exc.HttpException("409 Conflict")
            self.deleted.append(f"{kind} {item.id}")

        return delete

    def conn(self, identity: FakeIdentity) -> SimpleNamespace:
        def create_network(name, project_id):  # noqa: ANN001, ANN202
            self.made.append(("network", name))
            return SimpleNamespace(id=f"net-{name}")

        def create_subnet(name, network_id, project_id, ip_version, cidr):  # noqa: ANN001, ANN202
            self.made.append(("subnet", name))

        return SimpleNamespace(
            identity=identity,
            compute=SimpleNamespace(
                servers=self.lister("server"),
                delete_server=self.deleter("server"),
                wait_for_delete=lambda server, wait: server,
                keypairs=self.lister("keypair"),
                delete_keypair=self.deleter("keypair"),
            ),
            block_storage=SimpleNamespace(
                snapshots=self.lister("snapshot"),
                delete_snapshot=self.deleter("snapshot"),
                volumes=self.lister("volume"),
                delete_volume=self.deleter("volume"),
            ),
            network=SimpleNamespace(
                create_network=create_network,
                create_subnet=create_subnet,
                ips=self.lister("ip"),
                delete_ip=self.deleter("ip"),
                routers=self.lister("router"),
                delete_router=self.deleter("router"),
                remove_interface_from_router=lambda router, port_id: None,
                ports=self.lister("port"),
                delete_port=self.deleter("port"),
                subnets=self.lister("subnet"),
                delete_subnet=self.deleter("subnet"),
                networks=self.lister("network"),
                delete_network=self.deleter("network"),
                security_groups=self.lister("security group"),
                delete_security_group=self.deleter("security group"),
            ),
        )


def _left(kind: str, ident: str, project: str, **extra) -> SimpleNamespace:  # noqa: ANN003
    values = dict(
        id=ident,
        name=ident,
        project_id=project,
        user=None,
        device_owner="compute:nova",
        floating_ip_address="203.0.113.9",
    )
    values.update(extra)
    return SimpleNamespace(**values)


def test_compute_pools_get_project_networks_and_leave_nothing_behind(tmp_path: Path) -> None:
    identity, cloud = FakeIdentity(), FakeCloud()
    conn = cloud.conn(identity)
    path = tmp_path / "a.yaml"
    pool = accounts.provision(
        conn,
        path,
        1,
        prefix="tcup-c",
        sweep=("compute", "network", "block-storage"),
        project_networks=True,
    )
    assert cloud.made == [
        ("network", "tcup-c-1a"),
        ("subnet", "tcup-c-1a"),
        ("network", "tcup-c-1b"),
        ("subnet", "tcup-c-1b"),
    ]
    entries = yaml.safe_load(path.read_text())
    assert {e["username"]: e["resources"]["network"] for e in entries} == {
        "tcup-c-1a": "tcup-c-1a",
        "tcup-c-1b": "tcup-c-1b",
        "tcup-c-1r": "tcup-c-1a",  # the reader shares its project's network
    }
    project = pool.project_ids[0]
    user = pool.user_ids[0]
    cloud.items = {
        "server": [_left("server", "vm1", project), _left("server", "elsewhere", "other")],
        "keypair": [_left("keypair", "kp1", None, user=user)],
        "snapshot": [_left("snapshot", "snap1", project)],
        "volume": [_left("volume", "vol1", project), _left("volume", "stuck", project)],
        "ip": [_left("ip", "fip1", project)],
        "router": [_left("router", "r1", project)],
        "port": [
            _left("port", "p1", project),
            _left("port", "dhcp", project, device_owner="network:dhcp"),
        ],
        "subnet": [_left("subnet", "s1", project)],
        "network": [_left("network", "n1", project)],
        "security group": [_left("security group", "sg1", project)],
    }
    cloud.refuse = {"stuck"}
    left = accounts.remove(conn, pool)
    assert left == ["volume stuck"]
    assert cloud.deleted == [
        "server vm1",
        "keypair kp1",
        "snapshot snap1",
        "volume vol1",
        "ip fip1",
        "router r1",
        "port p1",
        "subnet s1",
        "network n1",
        "security group sg1",
    ]
    assert not identity.users and not identity.projects


def test_a_pool_without_compute_sweeps_nothing(tmp_path: Path) -> None:
    identity = FakeIdentity()
    pool = accounts.provision(_conn(identity), tmp_path / "a.yaml", 1)
    assert pool.sweep == () and accounts.remove(_conn(identity), pool) == []


def test_a_cloud_that_goes_away_while_the_pool_is_made_is_a_clear_error(tmp_path: Path) -> None:
    from keystoneauth1 import exceptions as ksa_exc

    class Vanishing(FakeIdentity):
        def create_user(self, name, password, domain_id, default_project_id):  # noqa: ANN001, ANN201
            if self.users:
                raise ksa_exc.ConnectFailure("Unable to establish connection to 127.0.0.1:5000")
            return super().create_user(name, password, domain_id, default_project_id)

        def delete_user(self, ident, ignore_missing=True):  # noqa: ANN001, ANN201
            raise ksa_exc.ConnectFailure("Unable to establish connection to 127.0.0.1:5000")

    identity = Vanishing()
    with pytest.raises(PreflightError) as caught:
        accounts.provision(_conn(identity), tmp_path / "a.yaml", 1)
    assert caught.value.message.startswith("making Tempest test accounts failed: Unable to")
    user = next(iter(identity.users))
    assert f"user {user}" in caught.value.hint


def test_leftovers_that_cannot_be_listed_are_named(tmp_path: Path) -> None:
    identity, cloud = FakeIdentity(), FakeCloud()
    conn = cloud.conn(identity)
    pool = accounts.provision(conn, tmp_path / "a.yaml", 1, sweep=("compute",))

    def refused(**query):  # noqa: ANN003, ANN202
        raise ConnectionError("connection refused")

    conn.compute.servers = refused
    projects = list(pool.project_ids)  # remove() empties the pool's lists
    left = accounts.remove(conn, pool)
    assert sorted(left) == sorted(f"servers of {p} (could not be listed)" for p in projects)

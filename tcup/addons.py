"""What the add-ons' Tempest plugins need: DNS (Designate) and Orchestration (Heat).

python-tempestconf marks ``designate`` and ``heat`` available and stops there
for DNS; for Orchestration it points heat-tempest-plugin at its own demo user.
For a plan with add-on tests tcup therefore:

* **DNS** (designate-tempest-plugin): writes ``[dns]`` (the nameservers the
  pools publish, when their names resolve; ``build_timeout``) and
  ``[dns_feature_enabled]`` probed from the Designate API where it tells
  (``api_v2``, ``api_admin``, ``api_v2_root_recordsets``, ``api_v2_quotas``),
  documented defaults otherwise (``api_v2_quotas_verify_project`` False as
  Designate's ``quotas_verify_project_id``; ``enforce_new_defaults`` and
  ``[enforce_scope] designate`` True as oslo.policy since 2024.1), and empties
  ``[auth] tempest_roles`` when tempestconf set ``member``: Tempest gives those
  roles to every dynamic user, the project reader too, and the RBAC tests then
  see the reader write;
* **Orchestration** (heat-tempest-plugin): the plugin runs every test as one
  static user (``[heat_plugin] username``), so tcup makes that user and a
  project of its own for the run (with ``member`` and, where the cloud has it,
  ``heat_stack_owner``) and removes them at the end with whatever stacks were
  left in it; ``hidden_stack_tag``, the flavors, images and network the
  compute tests use, and devstack's skip lists for tests outside the guideline.

After the run :func:`cleanup` deletes the stacks of that project (and the
stack-domain projects Heat made for them) and the zones left in the projects
tcup made (or in Tempest's dynamic projects, gone by then); what cannot be
deleted is named.  DNS tests that failed on a zone gone to ``ERROR`` or left
``PENDING``, or zones still unpublished after the run, mean the DNS back end
did not publish them: :func:`dns_broken` says so (the run then exits 4).

The user's ``--tempest-overrides`` are applied after all of this and win.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from tcup.cloud import CloudInfo
    from tcup.guidelines import Guideline
    from tcup.testlist import PlannedTest, TestPlan

LOG = logging.getLogger(__name__)

DNS = "dns"
ORCHESTRATION = "orchestration"
#: catalog service type -> the add-on whose tests need it
ADD_ON_SERVICES: Mapping[str, str] = {DNS: "DNS", ORCHESTRATION: "Orchestration"}

STACK_OWNER_ROLE = "heat_stack_owner"
MEMBER_ROLE = "member"
#: ``[heat_plugin] hidden_stack_tag``; must be one of heat.conf ``hidden_stack_tags``
HIDDEN_STACK_TAG = "hidden"
DNS_BUILD_TIMEOUT = 120
#: devstack's skip lists (heat/devstack/lib/heat); tests of these classes are in no guideline
HEAT_SKIP_SCENARIO = ("SoftwareConfigIntegrationTest", "AodhAlarmTest", "CfnInitIntegrationTest")
HEAT_SKIP_FUNCTIONAL = ("NotificationTest",)
#: zone states that mean the back end has not (yet) published a change
ZONE_STUCK = ("PENDING", "ERROR", "NO_ZONE")
_WAIT = 60.0


def add_on_services(services: Iterable[str]) -> list[str]:
    """The add-on services among ``services`` (catalog types the plan needs)."""
    wanted = set(services)
    return [s for s in ADD_ON_SERVICES if s in wanted]


# ------------------------------------------------------------------ pre-flight


def missing_lines(
    test_plan: TestPlan,
    add_ons: Sequence[Guideline],
    needed: Mapping[str, Sequence[PlannedTest]],
    missing: Iterable[str],
) -> list[str]:
    """One line per add-on whose service the catalog lacks: the add-on and its tests.

    ``add_ons`` may hold the platform guideline too (it is passed over), so an
    add-on run on its own (``--guideline dns.2020.06``) is named as well.
    """
    lines = []
    gone = set(missing)
    for guideline in add_ons:
        target = guideline.add_on
        if target is None:  # the platform guideline: its services are said above
            continue
        name = target.name
        services = sorted(
            {
                s
                for s, tests in needed.items()
                for t in tests
                if s in gone and (t.guideline_id == guideline.id)
            }
        )
        if not services:
            continue
        tests = [
            t.name
            for s in services
            for t in needed[s]
            if t.guideline_id == guideline.id and t.status == "required"
        ]
        lines.append(
            f"add-on {name} ({guideline.id}): the catalog has no {', '.join(services)} service, "
            f"so its {len(tests)} required test(s) cannot pass: {', '.join(tests)}"
        )
    return lines


# ------------------------------------------------------------------------- DNS


def dns_settings(conn: Any, info: CloudInfo) -> list[tuple[str, str, str]]:
    """``[dns]``, ``[dns_feature_enabled]`` and ``[enforce_scope] designate`` for this cloud."""
    features = probe_dns_features(conn, info)
    values = [("dns", "build_timeout", str(DNS_BUILD_TIMEOUT))]
    nameservers = discover_nameservers(conn)
    if nameservers:
        values.append(("dns", "nameservers", ",".join(nameservers)))
    values += [("dns_feature_enabled", k, str(v)) for k, v in features.items()]
    values.append(("enforce_scope", "designate", "True"))
    return values


def _dns_root(conn: Any) -> str:
    """The Designate endpoint without its version (``/v2``) suffix."""
    endpoint = str(conn.dns.get_endpoint() or "").rstrip("/")
    return endpoint[: -len("/v2")] if endpoint.endswith("/v2") else endpoint


def _dns_call(conn: Any, method: str, path: str, **headers: str) -> Any:
    """``method`` on the Designate API (``path`` from its root, e.g. ``/v2/zones``)."""
    return conn.session.request(
        _dns_root(conn) + path,
        method,
        headers=headers or None,
        raise_exc=False,
        connect_retries=0,
    )


def _dns_get(conn: Any, path: str, **headers: str) -> Any:
    """GET on the Designate API (admin), ``None`` when it does not answer."""
    try:
        return _dns_call(conn, "GET", path, **headers)
    except Exception as exc:  # noqa: BLE001 - a probe that cannot be made decides nothing
        LOG.info("Designate probe %s failed: %s", path, exc)
        return None


def probe_dns_features(conn: Any, info: CloudInfo) -> dict[str, bool]:
    """What the Designate API offers; an answer other than 404 means the API is there."""

    def there(path: str, default: bool) -> bool:
        resp = _dns_get(conn, path)
        if resp is None or resp.status_code >= 500:
            return default
        return resp.status_code != 404

    project = info.project_id or "unknown"
    return {
        "api_v2": there("/v2/zones?limit=1", True),
        "api_admin": there(f"/admin/quotas/{project}", False),
        "api_v2_root_recordsets": there("/v2/recordsets?limit=1", False),
        "api_v2_quotas": there(f"/v2/quotas/{project}", False),
        # not visible through the API: Designate's own defaults and oslo.policy's since 2024.1
        "api_v2_quotas_verify_project": False,
        "enforce_new_defaults": True,
    }


def discover_nameservers(conn: Any) -> list[str]:
    """``ip:53`` of the nameservers the pools publish (their NS records), where names resolve.

    The pools' own ``nameservers`` (host and port) are not in the API; an
    operator whose back end listens elsewhere sets ``[dns] nameservers``
    with ``--tempest-overrides``.
    """
    resp = _dns_get(conn, "/v2/pools")
    if resp is None or resp.status_code != 200:
        return []
    try:
        pools = resp.json().get("pools") or []
    except ValueError:
        return []
    found: list[str] = []
    for pool in pools:
        for record in pool.get("ns_records") or []:
            host = str(record.get("hostname") or "").rstrip(".")
            if not host:
                continue
            try:
                infos = socket.getaddrinfo(host, 53, proto=socket.IPPROTO_UDP)
            except OSError:
                LOG.info("the pool nameserver %s does not resolve; not queried", host)
                continue
            for *_, address in infos:
                ip = address[0]
                entry = f"[{ip}]:53" if ":" in ip else f"{ip}:53"
                if entry not in found:
                    found.append(entry)
    return found


def tempest_roles_fix(conf_values: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Empty ``[auth] tempest_roles`` when tempestconf set ``member`` (see the module doc)."""
    roles = [r.strip() for r in (conf_values.get("tempest_roles") or "").split(",") if r.strip()]
    if roles == [MEMBER_ROLE]:
        return [("auth", "tempest_roles", "")]
    return []


# --------------------------------------------------------------- Orchestration


@dataclass
class HeatAccount:
    """The one user heat-tempest-plugin runs as, and its project."""

    username: str
    password: str = field(repr=False)
    project_name: str
    domain_name: str
    user_id: str | None = None  # set when tcup made it (and removes it)
    project_id: str | None = None
    roles: tuple[str, ...] = ()
    network: str | None = None  # a network tcup made in the project

    @property
    def made(self) -> bool:
        return self.user_id is not None


def make_heat_account(
    conn: Any, domain: str | None, prefix: str, *, network: bool = False
) -> HeatAccount:
    """A project and a user with ``member`` (and ``heat_stack_owner`` if the cloud has it).

    On failure what was made is removed again before the error is raised.
    """
    from tcup.accounts import _domain, _project_network

    domain_obj = _domain(conn, domain)
    name = f"{prefix}-heat"
    roles = [r for r in (MEMBER_ROLE, STACK_OWNER_ROLE) if conn.identity.find_role(r) is not None]
    password = secrets.token_urlsafe(24)
    account = HeatAccount(name, password, name, domain_obj.name, roles=tuple(roles))
    try:
        project = conn.identity.create_project(
            name=name,
            domain_id=domain_obj.id,
            description=f"heat-tempest-plugin's user, made by tcup run {prefix}; safe to delete",
        )
        account.project_id = project.id
        user = conn.identity.create_user(
            name=name, password=password, domain_id=domain_obj.id, default_project_id=project.id
        )
        account.user_id = user.id
        for role in roles:
            conn.identity.assign_project_role_to_user(project, user, conn.identity.find_role(role))
        if network:
            _project_network(conn, project, name)
            account.network = name
    except BaseException:
        remove_heat_account(conn, account)
        raise
    return account


def remove_heat_account(conn: Any, account: HeatAccount) -> list[str]:
    """Delete the account tcup made (its network first); returns what could not be deleted."""
    left: list[str] = []
    if account.project_id and account.network:
        with contextlib.suppress(Exception):
            for subnet in conn.network.subnets(project_id=account.project_id):
                conn.network.delete_subnet(subnet)
            for net in conn.network.networks(project_id=account.project_id):
                conn.network.delete_network(net)
    for kind, ident, delete in (
        ("user", account.user_id, conn.identity.delete_user),
        ("project", account.project_id, conn.identity.delete_project),
    ):
        if not ident:
            continue
        try:
            delete(ident, ignore_missing=True)
        except Exception as exc:  # noqa: BLE001 - name what is left
            LOG.warning("could not delete the Orchestration test %s %s: %s", kind, ident, exc)
            left.append(f"{kind} {account.username} ({ident})")
    return left


def heat_settings(
    account: HeatAccount | None,
    conf_values: Mapping[str, Mapping[str, str]],
    planned: Sequence[str],
    *,
    shared_network: str | None = None,
) -> list[tuple[str, str, str]]:
    """``[heat_plugin]`` for ``account``, with the compute settings already in tempest.conf.

    ``conf_values`` is tempest.conf as sections of options; ``planned`` the
    planned test names (a skip list never names a class with a planned test).
    """
    values: list[tuple[str, str, str]] = []
    if account is not None:
        values += [
            ("heat_plugin", "username", account.username),
            ("heat_plugin", "password", account.password),
            ("heat_plugin", "project_name", account.project_name),
            ("heat_plugin", "user_domain_name", account.domain_name),
            ("heat_plugin", "project_domain_name", account.domain_name),
        ]
    values.append(("heat_plugin", "hidden_stack_tag", HIDDEN_STACK_TAG))
    compute = conf_values.get("compute") or {}
    for heat_key, compute_key in (
        ("minimal_instance_type", "flavor_ref"),
        ("instance_type", "flavor_ref_alt"),
        ("minimal_image_ref", "image_ref"),
        ("image_ref", "image_ref_alt"),
    ):
        if compute.get(compute_key):
            values.append(("heat_plugin", heat_key, compute[compute_key]))
    network = shared_network or (account.network if account is not None else None)
    if network:
        values.append(("heat_plugin", "fixed_network_name", network))
    classes = {_class_of(name) for name in planned}
    for key, skip in (
        ("skip_scenario_test_list", HEAT_SKIP_SCENARIO),
        ("skip_functional_test_list", HEAT_SKIP_FUNCTIONAL),
    ):
        kept = [c for c in skip if c not in classes]
        if kept:
            values.append(("heat_plugin", key, ",".join(kept)))
    return values


def _class_of(test_name: str) -> str:
    parts = test_name.split("[", 1)[0].split(".")
    return parts[-2] if len(parts) >= 2 else ""


# --------------------------------------------------------------------- cleanup


@dataclass
class Leftovers:
    """What :func:`cleanup` found after the run."""

    deleted: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    stuck_zones: list[str] = field(default_factory=list)  # zones the back end never published


def _utc(text: str | None) -> datetime | None:
    if not text:
        return None
    with contextlib.suppress(ValueError):
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def run_zones(conn: Any, projects: Iterable[str], since: datetime) -> list[dict[str, Any]]:
    """Zones in ``projects``, and those made since ``since`` in projects that are gone."""
    resp = _dns_get(conn, "/v2/zones?limit=1000", **{"x-auth-all-projects": "true"})
    if resp is None or resp.status_code != 200:
        raise RuntimeError(f"cannot list zones: HTTP {getattr(resp, 'status_code', 'no answer')}")
    ours = set(projects)
    gone: dict[str, bool] = {}
    found = []
    for zone in resp.json().get("zones") or []:
        project = zone.get("project_id") or ""
        created = _utc(zone.get("created_at"))
        if project in ours:
            found.append(zone)
        elif created is not None and created >= since:
            if project not in gone:
                gone[project] = _project_gone(conn, project)
            if gone[project]:
                found.append(zone)
    return found


def _project_gone(conn: Any, project_id: str) -> bool:
    from openstack import exceptions as os_exc

    try:
        conn.identity.get_project(project_id)
    except os_exc.NotFoundException:
        return True
    except Exception:  # noqa: BLE001 - unknown: not ours to touch
        return False
    return False


def _describe_zone(zone: Mapping[str, Any]) -> str:
    return f"zone {zone.get('name')} ({zone.get('id')}, {zone.get('action')} {zone.get('status')})"


def cleanup_zones(conn: Any, projects: Iterable[str], since: datetime, result: Leftovers) -> None:
    """Delete the zones the DNS tests left, wait for them to go; name those that stay.

    A zone still ``PENDING`` or in ``ERROR`` after the wait is one the back end
    never published (``result.stuck_zones``).
    """
    try:
        zones = run_zones(conn, projects, since)
    except Exception as exc:  # noqa: BLE001 - name it, never stop the rest of the cleanup
        result.left.append(f"zones of the run ({exc})")
        return
    for zone in zones:
        if zone.get("action") == "DELETE":
            continue  # the test already deleted it: waited for below
        try:
            resp = _dns_call(
                conn, "DELETE", f"/v2/zones/{zone['id']}", **{"x-auth-all-projects": "true"}
            )
            if resp.status_code < 400 or resp.status_code == 404:
                result.deleted.append(f"zone {zone.get('name')}")
            else:
                LOG.warning("could not delete %s: HTTP %s", _describe_zone(zone), resp.status_code)
        except Exception as exc:  # noqa: BLE001
            LOG.warning("could not delete %s: %s", _describe_zone(zone), exc)
    deadline = time.monotonic() + _WAIT
    remaining = zones
    while remaining and time.monotonic() < deadline:
        time.sleep(2)
        try:
            latest = {z["id"]: z for z in run_zones(conn, projects, since)}
        except Exception:  # noqa: BLE001
            break
        remaining = [latest[z["id"]] for z in remaining if z["id"] in latest]
    result.left += [_describe_zone(z) for z in remaining]
    result.stuck_zones += [_describe_zone(z) for z in remaining if z.get("status") in ZONE_STUCK]


def cleanup_stacks(creds: Any, account: HeatAccount, conn: Any, result: Leftovers) -> None:
    """Delete the stacks left in ``account``'s project, then Heat's stack-domain projects."""
    from openstack import connection as os_connection

    if not account.project_id:
        return
    try:
        user_conn = os_connection.Connection(
            auth_url=creds.auth_url,
            username=account.username,
            password=account.password,
            project_name=account.project_name,
            user_domain_name=account.domain_name,
            project_domain_name=account.domain_name,
            region_name=creds.region_name,
            interface=creds.interface,
            verify=creds.verify,
        )
        stacks = list(user_conn.orchestration.stacks())
    except Exception as exc:  # noqa: BLE001
        result.left.append(f"stacks of project {account.project_name} (could not be listed: {exc})")
        stacks = []
        user_conn = None
    for stack in stacks:
        try:
            user_conn.orchestration.delete_stack(stack)  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001
            LOG.warning("could not delete stack %s: %s", stack.name, exc)
    deadline = time.monotonic() + _WAIT
    for stack in stacks:
        try:
            user_conn.orchestration.wait_for_delete(  # type: ignore[union-attr]
                stack, wait=max(1, int(deadline - time.monotonic()))
            )
            result.deleted.append(f"stack {stack.name}")
        except Exception:  # noqa: BLE001
            result.left.append(f"stack {stack.name} ({stack.id}) in project {account.project_name}")
    # Heat makes a project "<project id>-<stack id>" in its stack domain for each stack with
    # users; a stack deleted badly leaves it behind
    prefix = f"{account.project_id}-"
    try:
        domain_projects = [p for p in conn.identity.projects() if p.name.startswith(prefix)]
    except Exception as exc:  # noqa: BLE001
        result.left.append(f"Heat stack-domain projects {prefix}* (could not be listed: {exc})")
        return
    for project in domain_projects:
        try:
            conn.identity.delete_project(project, ignore_missing=True)
            result.deleted.append(f"stack-domain project {project.name}")
        except Exception:  # noqa: BLE001
            result.left.append(f"stack-domain project {project.name} ({project.id})")


#: what designate-tempest-plugin's waiters say when the back end did not publish a change
UNPUBLISHED = re.compile(
    r"returned unexpected status (ERROR|NO_ZONE)|Current status: (PENDING|ERROR|NO_ZONE)",
)


def unpublished(results: Any) -> list[str]:
    """Failed DNS tests whose zone or recordset the back end never made ACTIVE (or deleted)."""
    found = []
    for test in results.tests:
        if test.status not in ("failed", "uxsuccess") or "designate_tempest_plugin." not in (
            test.test_id
        ):
            continue
        if UNPUBLISHED.search(" ".join([test.reason or "", *test.details.values()])):
            found.append(test.test_id)
    return found


def dns_broken(result: Leftovers, results: Any) -> str | None:
    """Why the DNS tests could not complete, when the back end did not publish zones.

    Either failed DNS tests say a zone went to ``ERROR`` or stayed ``PENDING``,
    or zones were still unpublished a minute after the run.
    """
    failed = unpublished(results)
    if failed:
        return (
            f"the DNS back end did not publish the zones of {len(failed)} DNS test(s) "
            f"(they went to ERROR or stayed PENDING): {', '.join(failed)}"
        )
    if result.stuck_zones and dns_failed(results):
        return (
            f"the DNS back end did not publish {len(result.stuck_zones)} zone(s) of the DNS tests "
            f"({', '.join(result.stuck_zones[:3])}{' ...' if len(result.stuck_zones) > 3 else ''})"
        )
    return None


# ------------------------------------------------------------------- one run


@dataclass
class AddOnRun:
    """The add-on services a run tests, and what tcup made for them."""

    services: tuple[str, ...]
    planned: tuple[str, ...]  # the planned test names
    heat: HeatAccount | None = None
    shared_network: str | None = None
    leftovers: Leftovers = field(default_factory=Leftovers)

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.heat.password,) if self.heat is not None else ()

    def settings(
        self, conn: Any, info: CloudInfo, conf_values: Mapping[str, Mapping[str, str]]
    ) -> list[tuple[str, str, str]]:
        """Every add-on setting for tempest.conf (the user's overrides come after)."""
        values: list[tuple[str, str, str]] = []
        if DNS in self.services:
            values += dns_settings(conn, info)
            values += tempest_roles_fix(conf_values.get("auth") or {})
        if ORCHESTRATION in self.services:
            values += heat_settings(
                self.heat, conf_values, self.planned, shared_network=self.shared_network
            )
        return values


def account_from_file(path: Any) -> HeatAccount | None:
    """The first non-admin account of a Tempest accounts file, for heat-tempest-plugin."""
    import yaml

    try:
        entries = yaml.safe_load(open(path, encoding="utf-8")) or []  # noqa: SIM115
    except (OSError, yaml.YAMLError):
        return None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or "admin" in (entry.get("roles") or []):
            continue
        project = entry.get("project_name") or entry.get("tenant_name")
        if entry.get("username") and entry.get("password") and project:
            domain = entry.get("user_domain_name") or entry.get("domain_name") or "Default"
            return HeatAccount(
                str(entry["username"]), str(entry["password"]), str(project), str(domain)
            )
    return None


def needing_admin(test_ids: Iterable[str]) -> list[str]:
    """Planned tests whose classes skip without admin credentials (the DNS tests).

    With ``--accounts auto`` they run with dynamic credentials beside the
    others (:mod:`tcup.dynamic`): a pre-provisioned pool has no admin account.
    """
    return [t for t in test_ids if t.startswith("designate_tempest_plugin.")]


def dns_failed(results: Any) -> bool:
    """A DNS test (designate-tempest-plugin) failed in ``results``."""
    return any(
        t.status in ("failed", "uxsuccess") and t.test_id.startswith("designate_tempest_plugin.")
        for t in results.tests
    )


@contextlib.contextmanager
def prepared(
    creds: Any,
    info: CloudInfo,
    services: Sequence[str],
    planned: Sequence[str],
    *,
    accounts: Any = None,
    shared_network: str | None = None,
    project_network: bool = False,
    since: datetime,
    projects: Callable[[], Iterable[str]] = tuple,
    stdout: TextIO,
) -> Iterator[AddOnRun]:
    """The add-ons' part of a run: the Orchestration user, and the cleanup at its end.

    With admin credentials tcup makes heat-tempest-plugin's user and project
    (removed at the end with their stacks); with a user's accounts file the
    plugin runs as its first non-admin account, whose stacks are left alone.
    At the end the zones left in ``projects()`` (the pool tcup made), in the
    Orchestration project, or in projects gone since ``since`` are deleted.
    """
    from tcup.accounts import run_prefix
    from tcup.cloud import connection

    conn = connection(creds)
    run = AddOnRun(tuple(services), tuple(planned), shared_network=shared_network)
    if ORCHESTRATION in services:
        if info.is_admin and accounts is None:
            run.heat = make_heat_account(
                conn, info.project_domain, run_prefix(), network=project_network
            )
            print(
                f"made user and project {run.heat.username} for the Orchestration tests "
                f"(roles {', '.join(run.heat.roles)}); they are removed when the run ends",
                file=stdout,
            )
        elif accounts is not None:
            run.heat = account_from_file(accounts)
            if run.heat is not None:
                print(
                    f"the Orchestration tests run as {run.heat.username} from the accounts file; "
                    "the stacks they leave in its project are not deleted",
                    file=stdout,
                )
    try:
        yield run
    finally:
        result = run.leftovers
        if DNS in services and info.is_admin:
            ours = [*projects(), *([run.heat.project_id] if run.heat and run.heat.made else [])]
            cleanup_zones(conn, [p for p in ours if p], since, result)
        if run.heat is not None and run.heat.made:
            cleanup_stacks(creds, run.heat, conn, result)
            result.left += remove_heat_account(conn, run.heat)
        if result.deleted:
            LOG.info("deleted what the add-on tests left: %s", ", ".join(result.deleted))
        if result.left:
            print(
                "tcup: could not delete what the add-on tests left: "
                + "; ".join(result.left)
                + "; delete them with the openstack client",
                file=stdout,
            )

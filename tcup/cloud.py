"""Credentials, pre-flight checks and the cloud provider id (cpid).

Credentials are read the way every OpenStack client reads them, through
openstacksdk's config loader: ``OS_*`` environment variables, or a named cloud
(``--os-cloud`` / ``OS_CLOUD``) from ``clouds.yaml`` + ``secure.yaml``.
Keystone v3 with domains, application credentials, a custom CA bundle
(``OS_CACERT`` / ``cacert``) and ``--insecure`` all come with it.

:func:`preflight` authenticates once, reads the catalog, computes the cpid the
way refstack-client does, and checks that every service the chosen target
needs is in the catalog and answers.  Each failure raises a
:class:`~tcup.errors.PreflightError` that names what is wrong before any test
runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlparse

from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3 as ksa_v3

from tcup.errors import InputError, PreflightError

LOG = logging.getLogger(__name__)

#: One place for "which catalog service does this part of a guideline need".
#: Keyed by capability-name prefix (``compute-servers-create`` -> ``compute``)
#: and by the OpenStack project named in a capability's ``project`` field.
SERVICE_BY_PREFIX: Mapping[str, str] = {
    "compute": "compute",
    "networks": "network",
    "volumes": "block-storage",
    "images": "image",
    "objectstore": "object-store",
    "identity": "identity",
    "dns": "dns",
    "stacks": "orchestration",
    "sharedfilesystem": "shared-file-system",
    "loadbalancer": "load-balancer",
    "keymanager": "key-manager",
}
SERVICE_BY_PROJECT: Mapping[str, str] = {
    "nova": "compute",
    "neutron": "network",
    "cinder": "block-storage",
    "glance": "image",
    "swift": "object-store",
    "keystone": "identity",
    "designate": "dns",
    "heat": "orchestration",
    "manila": "shared-file-system",
    "octavia": "load-balancer",
    "barbican": "key-manager",
}
#: Test-module prefixes, for tests whose capability is unknown (tempest layout).
SERVICE_BY_TEST_PREFIX: Mapping[str, str] = {
    "tempest.api.compute.": "compute",
    "tempest.api.network.": "network",
    "tempest.api.volume.": "block-storage",
    "tempest.api.image.": "image",
    "tempest.api.object_storage.": "object-store",
    "tempest.api.identity.": "identity",
}

_PROBE_TIMEOUT = 15.0


def service_for_capability(name: str, project: str | None = None) -> str | None:
    """The catalog service type a capability needs, or None when unknown."""
    if project and project.lower() in SERVICE_BY_PROJECT:
        return SERVICE_BY_PROJECT[project.lower()]
    prefix = name.split("-", 1)[0].lower()
    return SERVICE_BY_PREFIX.get(prefix)


def service_for_test(test_name: str) -> str | None:
    """The service a tempest test exercises, judged by its module path."""
    for prefix, service in SERVICE_BY_TEST_PREFIX.items():
        if test_name.startswith(prefix):
            return service
    return None


def service_aliases(service_type: str) -> list[str]:
    """Every catalog type that provides ``service_type`` (``block-storage`` -> volumev3 ...)."""
    import os_service_types

    try:
        types = os_service_types.ServiceTypes().get_all_types(service_type)
    except Exception:  # unknown type or broken data: fall back to the name itself
        types = None
    return list(types or [service_type])


@dataclass(frozen=True)
class Credentials:
    """Resolved credentials: what the user gave, plus the loaded openstacksdk region.

    ``region`` carries secrets; never log or write it.  ``describe()`` is safe.
    """

    cloud: str | None
    auth_url: str
    auth_type: str
    username: str | None
    user_domain: str | None
    project: str | None
    project_domain: str | None
    region_name: str | None
    interface: str
    verify: bool | str
    region: Any = field(repr=False, compare=False)

    def session(self) -> ksa_session.Session:
        return self.region.get_session()

    def describe(self) -> str:
        who = self.username or f"({self.auth_type})"
        scope = f" project {self.project}" if self.project else ""
        return f"{who}{scope} at {self.auth_url}"

    def tempestconf_args(self) -> list[str]:
        """Arguments that make python-tempestconf load these same credentials.

        tempestconf uses the same openstacksdk loader and inherits the
        environment (``OS_*``, ``OS_CLIENT_CONFIG_FILE``); only the choices made
        on tcup's command line need repeating.
        """
        args: list[str] = []
        if self.cloud:
            args += ["--os-cloud", self.cloud]
        if self.verify is False:
            args.append("--insecure")
        elif isinstance(self.verify, str):
            args += ["--os-cacert", os.path.abspath(self.verify)]
        return args


@dataclass(frozen=True)
class CloudInfo:
    """What pre-flight learnt about the cloud; safe to print and to store."""

    auth_url: str
    identity_version: str
    user: str
    user_id: str
    user_domain: str | None
    project: str | None
    project_id: str | None
    project_domain: str | None
    region: str | None
    roles: tuple[str, ...]
    cpid: str
    cpid_source: str  # "keystone" or "auth-url"
    services: Mapping[str, str]  # catalog type -> public endpoint URL
    required: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unreachable: Mapping[str, str] = field(default_factory=dict)
    # catalog types whose endpoints are all in regions other than ``region``
    other_regions: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def has_service(self, service_type: str) -> bool:
        """In the catalog and answering (an endpoint that does not answer counts as absent)."""
        return any(
            t in self.services and t not in self.unreachable for t in service_aliases(service_type)
        )


def connection(creds: Credentials) -> Any:
    """An openstacksdk ``Connection`` with these credentials (for admin work)."""
    from openstack import connection as os_connection

    return os_connection.Connection(config=creds.region)


def load_credentials(
    cloud: str | None = None,
    *,
    insecure: bool | None = None,
    cacert: str | None = None,
    region_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Resolve credentials through openstacksdk's loader (env, clouds.yaml, secure.yaml)."""
    import openstack.config
    from openstack import exceptions as sdk_exc

    env = os.environ if environ is None else environ
    cloud = cloud or env.get("OS_CLOUD") or None
    has_env = any(k.startswith("OS_AUTH_URL") or k == "OS_AUTH_TYPE" for k in env)
    if cloud is None and not has_env and not _clouds_yaml_present(env):
        raise PreflightError(
            "no OpenStack credentials: neither OS_* variables nor a cloud name are set",
            hint="source your openrc (OS_AUTH_URL, OS_USERNAME, ...) or pass --os-cloud NAME "
            "with a clouds.yaml (OS_CLIENT_CONFIG_FILE names one elsewhere)",
        )
    overrides: dict[str, Any] = {}
    if insecure:
        overrides["verify"] = False
    if cacert:
        overrides["cacert"] = cacert
    if region_name:
        overrides["region_name"] = region_name
    saved = _swap_environ(environ)
    try:
        config = openstack.config.OpenStackConfig(load_envvars=True)
        region = config.get_one(cloud=cloud, **overrides)
    except sdk_exc.ConfigException as exc:
        raise PreflightError(
            f"cannot load OpenStack credentials: {exc}",
            hint="check the cloud name (--os-cloud / OS_CLOUD) and your clouds.yaml",
        ) from exc
    except ksa_exc.MissingRequiredOptions as exc:
        names = ", ".join(o.dest for o in exc.options)
        raise PreflightError(
            f"OpenStack credentials are incomplete: missing {names}",
            hint="set the OS_* variables of your openrc or complete the cloud in clouds.yaml",
        ) from exc
    finally:
        _restore_environ(saved)
    auth = dict(region.config.get("auth") or {})
    auth_url = auth.get("auth_url")
    if not auth_url:
        raise PreflightError(
            "OpenStack credentials have no auth URL",
            hint="set OS_AUTH_URL or auth.auth_url in clouds.yaml",
        )
    verify = region.config.get("verify", True)
    if verify and region.config.get("cacert"):
        verify = region.config["cacert"]
    return Credentials(
        cloud=cloud,
        auth_url=auth_url,
        auth_type=str(region.config.get("auth_type") or "password"),
        username=auth.get("username") or auth.get("user_id"),
        user_domain=auth.get("user_domain_name") or auth.get("user_domain_id"),
        project=auth.get("project_name") or auth.get("project_id"),
        project_domain=auth.get("project_domain_name") or auth.get("project_domain_id"),
        region_name=region.config.get("region_name") or None,
        interface=str(region.config.get("interface") or "public"),
        verify=verify,
        region=region,
    )


def _clouds_yaml_present(env: Mapping[str, str]) -> bool:
    import openstack.config.loader as loader

    if env.get("OS_CLIENT_CONFIG_FILE"):
        return True
    return any(os.path.exists(p) for p in loader.CONFIG_FILES)


def _swap_environ(environ: Mapping[str, str] | None) -> dict[str, str] | None:
    """openstacksdk reads ``os.environ``; let tests hand in their own mapping."""
    if environ is None:
        return None
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    return saved


def _restore_environ(saved: dict[str, str] | None) -> None:
    if saved is not None:
        os.environ.clear()
        os.environ.update(saved)


# --------------------------------------------------------------------- cpid


def cpid_from_url(auth_url: str) -> str:
    """refstack-client's fallback: md5 of the auth URL's host name, lowercase hex."""
    parsed = urlparse(auth_url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(f"auth URL '{auth_url}' is not an http(s) URL")
    return hashlib.md5(parsed.hostname.encode("utf-8"), usedforsecurity=False).hexdigest()


def cpid_from_catalog(
    catalog: Sequence[Mapping[str, Any]] | None, auth_url: str, identity_version: str = "v3"
) -> tuple[str, str]:
    """The cpid and where it came from, exactly as refstack-client computes it.

    v3: the ``id`` of the identity service in the token catalog; v2: the id of
    the identity service's first endpoint.  Anything missing: md5 of the auth
    URL host name.  Returns ``(cpid, "keystone" | "auth-url")``.
    """
    for service in catalog or ():
        if service.get("type") != "identity":
            continue
        if identity_version == "v2":
            endpoints = service.get("endpoints") or []
            if endpoints and endpoints[0].get("id"):
                return str(endpoints[0]["id"]), "keystone"
        elif service.get("id"):
            return str(service["id"]), "keystone"
        break
    return cpid_from_url(auth_url), "auth-url"


# ---------------------------------------------------------------- pre-flight


def unneeded_types(required: Iterable[str], services: Iterable[str]) -> list[str]:
    """Catalog types (of ``services``) no planned test uses, when the plan has no compute test.

    ``required`` is the plan's services.  A Storage plan needs Keystone and
    Swift only; Tempest is then configured without the rest, so tempestconf
    neither creates flavors nor uploads an image, and a sick neighbour cannot
    stop the run.  A plan with compute tests keeps every service: those tests
    look at their neighbours (image, volume, placement) through Tempest's
    settings.  So does one with Orchestration tests: Heat's stacks boot
    servers, ports and volumes.
    """
    required = set(required)
    if not required or {"compute", "orchestration"} & required:
        return []
    keep = {"identity", *(t for s in required for t in service_aliases(s))}
    return sorted(t for t in services if t not in keep)


def preflight(
    creds: Credentials,
    required_services: Iterable[str] = (),
    *,
    probe: bool = True,
    fail_on_missing: bool = True,
    probe_unneeded: bool = True,
) -> CloudInfo:
    """Authenticate, read the catalog, compute the cpid, check required services.

    ``required_services`` are service types (``object-store``, ``compute`` ...).
    A missing one raises :class:`PreflightError` unless ``fail_on_missing`` is
    False, in which case it is listed in ``CloudInfo.missing``.  A required
    service in the catalog that does not answer at all (connection refused,
    DNS, TLS) or answers 5xx always raises: tests against it could only fail.
    Every other catalog endpoint is probed too, because python-tempestconf
    queries every service it finds: one that does not answer goes into
    ``CloudInfo.unreachable`` (catalog type -> reason) for ``configure`` to
    leave out.  With ``probe_unneeded`` False, the :func:`unneeded_types`
    (which Tempest is configured without anyway) are not probed: a run has no
    use for the answer, ``tcup check`` reports it.
    """
    session = creds.session()
    access = _authenticate(creds, session)
    version = "v2" if access.version == "v2.0" else "v3"
    catalog = list(access.service_catalog.catalog or [])
    cpid, source = cpid_from_catalog(catalog, creds.auth_url, version)
    services = _public_endpoints(access, creds)
    other_regions = tuple(
        sorted(set(_public_endpoints(access, creds, any_region=True)) - set(services))
    )
    required = tuple(dict.fromkeys(required_services))
    missing = tuple(s for s in required if not any(t in services for t in service_aliases(s)))
    info = CloudInfo(
        auth_url=creds.auth_url,
        identity_version=version,
        user=access.username or creds.username or "",
        user_id=access.user_id or "",
        user_domain=getattr(access, "user_domain_name", None),
        project=access.project_name,
        project_id=access.project_id,
        project_domain=getattr(access, "project_domain_name", None),
        region=creds.region_name,
        roles=tuple(sorted(access.role_names or ())),
        cpid=cpid,
        cpid_source=source,
        services=services,
        required=required,
        missing=missing,
        other_regions=other_regions,
    )
    if missing and fail_on_missing:
        raise PreflightError(
            f"the catalog of {info.auth_url} lacks service(s) the target needs: "
            + ", ".join(missing),
            hint="choose a target this cloud provides (e.g. --target object for storage only), "
            "or check the region (OS_REGION_NAME)",
        )
    if probe:
        for service in required:
            if service in missing:
                continue
            url = _endpoint_for(services, service)
            if url:
                _probe(session, service, url)
        needed = {t for s in required for t in service_aliases(s)}
        skipped = set() if probe_unneeded else set(unneeded_types(required, services))
        others = {
            t: u
            for t, u in services.items()
            if t not in needed and t != "identity" and t not in skipped
        }
        unreachable = _unreachable(session, others)
        if unreachable:
            for stype, reason in sorted(unreachable.items()):
                LOG.warning(
                    "the %s endpoint %s does not answer (%s); the target does not need it, "
                    "so Tempest is configured without it",
                    stype,
                    services[stype],
                    reason,
                )
            info = replace(info, unreachable=unreachable)
    return info


def _unreachable(session: ksa_session.Session, endpoints: Mapping[str, str]) -> dict[str, str]:
    """Of ``endpoints`` (type -> URL), those that do not answer, with the reason (in parallel)."""
    from concurrent.futures import ThreadPoolExecutor

    def check(item: tuple[str, str]) -> tuple[str, str | None]:
        stype, url = item
        try:
            _probe(session, stype, url)
        except PreflightError as exc:
            return stype, exc.message.rsplit(": ", 1)[-1] if ": " in exc.message else exc.message
        return stype, None

    if not endpoints:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(endpoints))) as pool:
        found = dict(pool.map(check, sorted(endpoints.items())))
    return {t: reason for t, reason in found.items() if reason}


def _tls_error(peer: str, exc: BaseException) -> PreflightError:
    """The one message for a failed TLS handshake, with Keystone or a catalog endpoint."""
    return PreflightError(
        f"TLS failure talking to {peer}: {_short(exc)}",
        hint="point OS_CACERT (or cacert in clouds.yaml) at your CA bundle, or use "
        "--insecure to skip verification",
    )


def _in_chain(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` among ``exc``'s causes and contexts."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _authenticate(creds: Credentials, session: ksa_session.Session) -> Any:
    where = creds.auth_url
    try:
        with _quiet("keystoneauth.identity.generic.base"):  # its discovery warning repeats ours
            return session.auth.get_access(session)
    except ksa_exc.Unauthorized as exc:
        if creds.project and _unscoped_ok(creds, session):
            raise PreflightError(
                f"Keystone at {where} accepted the password of user '{creds.username}' but "
                f"cannot scope to project '{creds.project}' (domain {creds.project_domain}): "
                "unknown project or no role on it",
                hint="check OS_PROJECT_NAME / OS_PROJECT_DOMAIN_NAME (or project_name in "
                "clouds.yaml)",
            ) from exc
        raise PreflightError(
            f"Keystone at {where} refused the credentials of user '{creds.username}' "
            f"(HTTP 401): wrong user name, password or user domain",
            hint="check OS_USERNAME / OS_PASSWORD / OS_USER_DOMAIN_NAME (or the cloud's auth "
            "in clouds.yaml / secure.yaml)",
        ) from exc
    except ksa_exc.SSLError as exc:
        raise _tls_error(f"Keystone at {where}", exc) from exc
    except (ksa_exc.ConnectFailure, ksa_exc.ConnectTimeout) as exc:
        raise PreflightError(
            f"cannot reach Keystone at {where}: {_connect_reason(exc)}",
            hint="check OS_AUTH_URL (host, port, http/https) and that the endpoint is up "
            "and reachable from here",
        ) from exc
    except ksa_exc.DiscoveryFailure as exc:
        # Version discovery wraps a failed TLS handshake in DiscoveryFailure.
        tls = _in_chain(exc, ksa_exc.SSLError)
        if tls is not None:
            raise _tls_error(f"Keystone at {where}", tls) from exc
        raise PreflightError(
            f"no usable Identity API at {where}: {_short(exc)}",
            hint="OS_AUTH_URL should be Keystone's root or /v3 URL, e.g. https://host:5000/v3",
        ) from exc
    except ksa_exc.MissingRequiredOptions as exc:
        names = ", ".join(o.dest for o in exc.options)
        raise PreflightError(f"OpenStack credentials are incomplete: missing {names}") from exc
    except ksa_exc.HttpError as exc:
        raise PreflightError(
            f"Keystone at {where} answered HTTP {exc.http_status}: {_short(exc)}"
        ) from exc
    except ksa_exc.ClientException as exc:
        raise PreflightError(f"authentication at {where} failed: {_short(exc)}") from exc


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _unscoped_ok(creds: Credentials, session: ksa_session.Session) -> bool:
    """After a 401: do user and password work without the project scope?"""
    auth = creds.region.config.get("auth") or {}
    if creds.auth_type not in ("password", "v3password") or not auth.get("password"):
        return False
    plugin = ksa_v3.Password(
        auth_url=creds.auth_url,
        username=auth.get("username"),
        user_id=auth.get("user_id"),
        password=auth.get("password"),
        user_domain_name=auth.get("user_domain_name"),
        user_domain_id=auth.get("user_domain_id"),
        unscoped=True,
    )
    try:
        plugin.get_access(ksa_session.Session(verify=session.verify))
    except ksa_exc.ClientException:
        return False
    return True


def _public_endpoints(access: Any, creds: Credentials, any_region: bool = False) -> dict[str, str]:
    """Catalog type -> endpoint URL of the credentials' interface, in their region
    (in any region with ``any_region``, or when the credentials name none)."""
    found: dict[str, str] = {}
    for service in access.service_catalog.catalog or []:
        stype = service.get("type")
        for ep in service.get("endpoints") or []:
            interface = ep.get("interface", "public")
            if interface != creds.interface and "publicURL" not in ep:
                continue
            region = ep.get("region_id") or ep.get("region")
            if not any_region and creds.region_name and region and region != creds.region_name:
                continue
            url = ep.get("url") or ep.get("publicURL")
            if stype and url and stype not in found:
                found[stype] = url
    return found


def _endpoint_for(services: Mapping[str, str], service_type: str) -> str | None:
    for t in service_aliases(service_type):
        if t in services:
            return services[t]
    return None


def _probe(session: ksa_session.Session, service: str, url: str) -> None:
    """Any HTTP answer means the endpoint is up; no answer is a pre-flight failure."""
    try:
        resp = session.get(
            url, authenticated=True, raise_exc=False, connect_retries=0, timeout=_PROBE_TIMEOUT
        )
    except ksa_exc.SSLError as exc:
        raise _tls_error(f"the {service} endpoint {url}", exc) from exc
    except (ksa_exc.ConnectFailure, ksa_exc.ConnectTimeout) as exc:
        raise PreflightError(
            f"the {service} endpoint {url} from the catalog does not answer: "
            f"{_connect_reason(exc)}",
            hint=f"start the {service} service or fix its catalog endpoint",
        ) from exc
    LOG.debug("probe %s %s -> %s", service, url, resp.status_code)
    if resp.status_code >= 500:
        raise PreflightError(
            f"the {service} endpoint {url} answers HTTP {resp.status_code}",
            hint=f"the {service} service is up but broken; check its logs",
        )


def _connect_reason(exc: Exception) -> str:
    text = str(exc)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if any(
        s in lowered
        for s in ("name or service not known", "failed to resolve", "nodename nor servname")
    ):
        return "host name does not resolve (DNS)"
    if "timed out" in lowered or isinstance(exc, ksa_exc.ConnectTimeout):
        return "connection timed out"
    return _short(exc)


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


def format_cloud_info(info: CloudInfo) -> str:
    """Human-readable pre-flight summary (no secrets)."""
    lines = [
        f"auth URL:   {info.auth_url} (identity {info.identity_version})",
        f"user:       {info.user}" + (f" (domain {info.user_domain})" if info.user_domain else ""),
        f"project:    {info.project or '-'}"
        + (f" (domain {info.project_domain})" if info.project_domain else ""),
        f"region:     {info.region or '-'}",
        f"roles:      {', '.join(info.roles) or '-'}",
        f"cpid:       {info.cpid} (from {info.cpid_source})",
        "services:   " + (", ".join(sorted(info.services)) or "-"),
    ]
    if info.required:
        present = [s for s in info.required if s not in info.missing]
        lines.append("needed:     " + (", ".join(present) or "-") + " (found)")
        if info.missing:
            lines.append("missing:    " + ", ".join(info.missing))
    if info.other_regions:
        lines.append(
            f"elsewhere:  {', '.join(info.other_regions)} (only in other regions than "
            f"{info.region}; left out of tempest.conf)"
        )
    if info.unreachable:
        lines.append(
            "no answer:  "
            + ", ".join(f"{t} ({reason})" for t, reason in sorted(info.unreachable.items()))
            + " (not needed; left out of tempest.conf)"
        )
    return "\n".join(lines)

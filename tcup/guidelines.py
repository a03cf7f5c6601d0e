"""Parse and validate an OpenStack interop guideline; resolve its targets.

Supported: schemas 1.2 to 1.6 (top-level ``schema``, ``components[c][status]``,
``platform.required``) and 2.0 (``metadata.schema``, ``platforms``,
``components[c].capabilities[status]``), including the 2.0 add-on files
(DNS, Orchestration ...).  A file is first checked against the JSON schema
shipped in ``tcup/schemas``, then for references that a schema cannot
express (a component naming an unknown capability).

Targets keep the guideline's own names: for 2.0 "OpenStack Powered Platform",
"OpenStack Powered Compute", "OpenStack Powered Storage" (short forms
``platform``, ``compute``, ``storage``) and an add-on's own name ("DNS", short
``dns``); for 1.x ``platform`` and each component (``compute``, ``object``).
``object`` and ``storage`` are accepted for each other, as RefStack does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import jsonschema
from jsonschema.exceptions import best_match

from tcup.errors import InputError

LOG = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = ("required", "advisory", "deprecated", "removed")
SUPPORTED_SCHEMAS: tuple[str, ...] = ("1.2", "1.3", "1.4", "1.5", "1.6", "2.0")
POWERED_PREFIX = "OpenStack Powered "
# RefStack's names for the same thing: `object` (1.x component, RefStack API) and
# `storage` (2.0 "OpenStack Powered Storage") are accepted for each other.
_SYNONYMS = {"object": "storage", "storage": "object"}

TargetKind = Literal["platform", "add-on"]


@dataclass(frozen=True)
class GuidelineTest:
    name: str  # dotted test name as written in the guideline
    idempotent_id: str | None  # as written: "id-<uuid>" or a bare uuid
    uuid: str | None  # bare, lowercase
    aliases: tuple[str, ...] = ()
    flagged: bool = False
    flag_reason: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The name and then its aliases: any of them passing passes the test."""
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class Capability:
    name: str
    tests: tuple[GuidelineTest, ...]
    description: str = ""
    project: str = ""
    admin: bool = False
    # status of this capability in each component that lists it
    statuses: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ComponentRef:
    """A platform guideline's component that an add-on requires (2.0
    ``required_platform_components``): ``os_powered_compute`` of ``2020.06``."""

    name: str
    guideline: str | None  # the guideline id its ``source`` names ("2020.06"), if any

    @classmethod
    def parse(cls, ref: Mapping[str, Any]) -> ComponentRef:
        source = str(ref.get("source") or "")
        base = source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json")
        return cls(str(ref["name"]), base or None)


@dataclass(frozen=True)
class Target:
    name: str  # canonical: "OpenStack Powered Storage", "DNS", "platform", "object"
    short: str  # "storage", "dns", "platform", "object"
    components: tuple[str, ...]
    kind: TargetKind = "platform"
    description: str = ""
    #: an add-on's ``required_platform_components``: the mark also needs these
    requires: tuple[ComponentRef, ...] = ()

    def matches(self, spec: str) -> bool:
        wanted = spec.strip().lower()
        names = {self.name.lower(), self.short}
        if self.short in _SYNONYMS:
            names.add(_SYNONYMS[self.short])
            names.add(POWERED_PREFIX.lower() + _SYNONYMS[self.short])
        if self.kind == "add-on":
            names.add(f"os_powered_{self.short}")
        return wanted in names


@dataclass(frozen=True)
class TargetCapability:
    """A capability as one target sees it: its winning status and component."""

    capability: Capability
    status: str
    component: str

    @property
    def name(self) -> str:
        return self.capability.name

    @property
    def tests(self) -> tuple[GuidelineTest, ...]:
        return self.capability.tests


@dataclass(frozen=True)
class Guideline:
    id: str  # "2020.06", "dns.2020.06", "next"
    schema: str  # "1.5", "2.0" ...
    status: str | None  # approved | draft | superseded | advisory (None when absent)
    source: str  # where tcup read it from (path or URL)
    sha256: str  # of the exact bytes read
    metadata: Mapping[str, Any]  # 2.0 "metadata", or the 1.x top-level scalars
    components: Mapping[str, Mapping[str, tuple[str, ...]]]  # component -> status -> caps
    capabilities: Mapping[str, Capability]
    targets: tuple[Target, ...]
    releases: tuple[str, ...] = ()

    @property
    def kind(self) -> TargetKind:
        """``add-on`` for an add-on file (DNS, Orchestration ...), else ``platform``."""
        if self.targets and all(t.kind == "add-on" for t in self.targets):
            return "add-on"
        return "platform"

    @property
    def add_on(self) -> Target | None:
        """The add-on this file defines, if it is an add-on file."""
        return self.targets[0] if self.kind == "add-on" else None

    @property
    def default_target(self) -> Target:
        """The add-on of an add-on file, else the platform target."""
        if self.kind == "add-on":
            return self.targets[0]
        return self.resolve_target("platform")

    def target_names(self) -> list[str]:
        return [t.name if t.name == t.short else f"{t.name} ({t.short})" for t in self.targets]

    def resolve_target(self, name: str | Target) -> Target:
        """The target called ``name`` (canonical or short, any case)."""
        if isinstance(name, Target):
            return name
        for target in self.targets:
            if target.matches(name):
                return target
        raise InputError(
            f"guideline {self.id} has no target '{name}'",
            hint="valid targets: " + ", ".join(self.target_names()),
        )

    def target_capabilities(
        self, target: str | Target, statuses: Iterable[str] = STATUSES
    ) -> list[TargetCapability]:
        """The capabilities of ``target`` with one of ``statuses``, in guideline order.

        A capability listed under several components or statuses of the target
        takes the highest-priority status (required, advisory, deprecated,
        removed), as the RefStack report page does.
        """
        resolved = self.resolve_target(target)
        wanted = set(check_statuses(statuses))
        best: dict[str, tuple[int, str, str]] = {}
        order: list[str] = []
        for component in resolved.components:
            lists = self.components.get(component, {})
            for rank, status in enumerate(STATUSES):
                for cap in lists.get(status, ()):
                    if cap not in best:
                        order.append(cap)
                        best[cap] = (rank, status, component)
                    elif rank < best[cap][0]:
                        best[cap] = (rank, status, component)
        chosen = [
            TargetCapability(self.capabilities[cap], best[cap][1], best[cap][2])
            for cap in order
            if best[cap][1] in wanted
        ]
        return sorted(chosen, key=lambda c: STATUSES.index(c.status))


def with_add_ons(
    guideline: Guideline, target: str | Target, add_ons: Sequence[Guideline] = ()
) -> list[tuple[Guideline, Target]]:
    """``guideline``'s ``target``, then each add-on file with the one add-on it defines."""
    sources = [(guideline, guideline.resolve_target(target))]
    for add_on in add_ons:
        if add_on.add_on is None:
            raise InputError(
                f"guideline {add_on.id} is not an add-on",
                hint="pass an add-on file such as dns.2020.06 to --add-on",
            )
        sources.append((add_on, add_on.add_on))
    return sources


def check_statuses(statuses: Iterable[str]) -> tuple[str, ...]:
    """Validate status names (``required``, ``advisory``, ``deprecated``, ``removed``)."""
    result = tuple(s.strip().lower() for s in statuses if s.strip())
    unknown = [s for s in result if s not in STATUSES]
    if unknown:
        raise InputError(
            f"unknown capability status '{unknown[0]}'",
            hint="valid statuses: " + ", ".join(STATUSES),
        )
    return result


@cache
def _validator(major: str) -> jsonschema.protocols.Validator:
    text = resources.files("tcup.schemas").joinpath(f"guideline-{major}.json").read_text("utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts) or "(top level)"


def schema_version(raw: Any) -> str | None:
    """The declared schema version of a parsed guideline document, if any."""
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("metadata"), dict) and "schema" in raw["metadata"]:
        return str(raw["metadata"]["schema"])
    if "schema" in raw:
        return str(raw["schema"])
    return None


def parse_guideline(data: bytes, source: str) -> Guideline:
    """Parse and validate guideline bytes; ``source`` names them in messages."""
    try:
        raw = json.loads(data)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot read guideline '{source}': not UTF-8 text — is it a guideline file?"
        ) from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"cannot read guideline '{source}': line {exc.lineno} column {exc.colno}: "
            f"{exc.msg} — is it a guideline file?"
        ) from exc
    version = schema_version(raw)
    if version is None:
        raise InputError(
            f"guideline '{source}': no schema version (neither 'schema' nor 'metadata.schema')"
            " — is it a guideline file?"
        )
    if version not in SUPPORTED_SCHEMAS:
        raise InputError(
            f"guideline '{source}': unsupported schema version '{version}'",
            hint="tcup reads guideline schemas " + ", ".join(SUPPORTED_SCHEMAS),
        )
    major = version.split(".")[0]
    error = best_match(_validator(major).iter_errors(raw))
    if error is not None:
        raise InputError(f"guideline '{source}': {_path(error.absolute_path)}: {error.message}")
    digest = hashlib.sha256(data).hexdigest()
    if major == "2":
        return _parse_v2(raw, version, source, digest)
    return _parse_v1(raw, version, source, digest)


def _parse_tests(cap: Mapping[str, Any]) -> tuple[GuidelineTest, ...]:
    tests = cap["tests"]
    if isinstance(tests, list):  # schema 1.2: names, flagged is a list of names
        flagged = set(cap.get("flagged", ()))
        return tuple(
            GuidelineTest(name=n, idempotent_id=None, uuid=None, flagged=n in flagged)
            for n in tests
        )
    result = []
    flagged_list = set(cap.get("flagged", ()) if isinstance(cap.get("flagged"), list) else ())
    for name, info in tests.items():
        idem = info.get("idempotent_id") or None
        uuid = idem.lower().removeprefix("id-") if idem else None
        flag = info.get("flagged")
        is_flagged = flag is not None or name in flagged_list
        reason = flag.get("reason") if isinstance(flag, dict) else None
        result.append(
            GuidelineTest(
                name=name,
                idempotent_id=idem,
                uuid=uuid,
                aliases=tuple(info.get("aliases", ())),
                flagged=is_flagged,
                flag_reason=reason,
            )
        )
    return tuple(result)


def _capabilities(
    raw_caps: Mapping[str, Any],
    components: dict[str, dict[str, tuple[str, ...]]],
    source: str,
    where: str,
) -> dict[str, Capability]:
    """Build the capabilities; drop (with a warning) component entries naming none.

    Published files have such dangling names (next.json lists
    'volumes-v2-reserve' as removed); RefStack fails only when asked for them.
    """
    statuses: dict[str, dict[str, str]] = {name: {} for name in raw_caps}
    for comp, lists in components.items():
        for status, caps in list(lists.items()):
            dangling = [cap for cap in caps if cap not in raw_caps]
            if dangling:
                LOG.log(
                    logging.WARNING if status == "required" else logging.INFO,
                    "guideline '%s': %s: %d undefined capabilities ignored: %s",
                    source,
                    where.format(comp=comp, status=status),
                    len(dangling),
                    ", ".join(dangling),
                )
            lists[status] = tuple(cap for cap in caps if cap in raw_caps)
            for cap in lists[status]:
                statuses[cap].setdefault(comp, status)
    return {
        name: Capability(
            name=name,
            tests=_parse_tests(cap),
            description=cap.get("description", ""),
            project=cap.get("project", ""),
            admin=bool(cap.get("admin", False)),
            statuses=statuses[name],
        )
        for name, cap in raw_caps.items()
    }


def _status_lists(lists: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {s: tuple(lists.get(s, ())) for s in STATUSES}


def _short(name: str) -> str:
    if name.startswith(POWERED_PREFIX):
        name = name[len(POWERED_PREFIX) :]
    return name.strip().lower().replace(" ", "_")


def _parse_v2(raw: dict, version: str, source: str, digest: str) -> Guideline:
    meta = raw["metadata"]
    components = {c: _status_lists(v["capabilities"]) for c, v in raw["components"].items()}
    targets: list[Target] = []
    for kind, key in (("platform", "platforms"), ("add-on", "add-ons")):
        for name, spec in raw.get(key, {}).items():
            comps = tuple(ref["name"] for ref in spec["components"])
            for comp in comps:
                if comp not in components:
                    raise InputError(
                        f"guideline '{source}': {key}.{name}.components: unknown component '{comp}'"
                    )
            requires = tuple(
                ComponentRef.parse(ref) for ref in spec.get("required_platform_components", ())
            )
            targets.append(
                Target(name, _short(name), comps, kind, spec.get("description", ""), requires)  # type: ignore[arg-type]
            )
    approval = meta.get("os_trademark_approval", {})
    return Guideline(
        id=meta["id"],
        schema=version,
        status=approval.get("status"),
        source=source,
        sha256=digest,
        metadata=meta,
        components=components,
        capabilities=_capabilities(
            raw["capabilities"], components, source, "components.{comp}.capabilities.{status}"
        ),
        targets=tuple(targets),
        releases=tuple(approval.get("releases", ())),
    )


def _parse_v1(raw: dict, version: str, source: str, digest: str) -> Guideline:
    components = {c: _status_lists(v) for c, v in raw["components"].items()}
    platform = raw.get("platform", {}).get("required") or list(components)
    for comp in platform:
        if comp not in components:
            raise InputError(f"guideline '{source}': platform.required: unknown component '{comp}'")
    targets = [Target("platform", "platform", tuple(platform), "platform")]
    targets += [Target(c, c.lower(), (c,), "platform") for c in components if c != "platform"]
    scalars = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    return Guideline(
        id=raw["id"],
        schema=version,
        status=raw.get("status"),
        source=source,
        sha256=digest,
        metadata=scalars,
        components=components,
        capabilities=_capabilities(
            raw["capabilities"], components, source, "components.{comp}.{status}"
        ),
        targets=tuple(targets),
        releases=tuple(raw.get("releases", ())),
    )

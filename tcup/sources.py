"""Find a guideline by path, URL or version name; keep fetched ones on disk.

A guideline spec is one of:

* a file path (``./2020.06.json``);
* an ``http(s)://`` URL of a guideline file;
* a version name: ``2020.06``, ``next``, ``latest`` (newest approved
  ``YYYY.MM``), or an add-on's ``dns.2020.06`` / ``dns.latest``, resolved
  against a *source*.

A source spec is one of:

* ``interop`` (the default): the published files of the official interop
  repository on opendev (``guidelines/`` and ``add-ons/guidelines/``), listed
  through its Gitea API, as RefStack 2.1.0 reads them;
* ``interop:<raw base URL>``: another copy in the same layout, e.g. a mirror
  or a fork branch (``.../raw/branch/<branch>/``);
* ``refstack:<API root>`` or an URL ending in ``/v1``: a RefStack-compatible
  server's ``/v1/guidelines`` endpoints;
* a local directory, flat (``2020.06.json``, ``add-ons/dns.2020.06.json``) or
  in the interop repository's layout.

Everything fetched over HTTP is cached under ``<cache>/guidelines`` with its
sha256; when the network fails, the cached copy is used (with a warning), so
a later run works offline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests

from tcup import __version__, settings
from tcup.errors import InputError
from tcup.guidelines import Guideline, parse_guideline

LOG = logging.getLogger(__name__)

INTEROP_RAW_BASE = "https://opendev.org/openinfra/interop/raw/branch/master/"
# Gitea contents API, one listing per folder (what RefStack 2.1.0 reads)
INTEROP_LISTING = "https://opendev.org/api/v1/repos/openinfra/interop/contents/{folder}?ref=master"
PLATFORM_DIR = "guidelines"
ADD_ON_DIR = "add-ons/guidelines"
TIMEOUT = (5.0, 30.0)  # connect, read (seconds)

_NAME = re.compile(r"^(?:(?P<program>[a-z][a-z0-9_]*)\.)?(?P<version>\d{4}\.\d{2}|next|latest)$")
_DATED = re.compile(r"^\d{4}\.\d{2}$")


@dataclass(frozen=True)
class GuidelineRef:
    """One guideline a source offers."""

    name: str  # "2020.06", "next", "dns.2020.06"
    program: str  # "powered" for platform guidelines, else the add-on ("dns")
    status: str | None = None  # approved | draft | superseded ... (None if unreadable)
    targets: tuple[str, ...] = ()  # canonical target names
    origin: str = ""  # path or URL
    schema: str | None = None
    error: str | None = None  # why the file could not be read, if it could not


def split_name(name: str) -> tuple[str, str]:
    """``dns.2020.06`` -> ("dns", "2020.06"); ``2020.06`` -> ("powered", "2020.06")."""
    stem = name.removesuffix(".json")
    found = _NAME.match(stem)
    if not found:
        raise InputError(
            f"'{name}' is not a guideline version",
            hint="use a version such as 2020.06, next, latest, dns.2020.06, a file or an URL",
        )
    return found.group("program") or "powered", found.group("version")


def _join(program: str, version: str) -> str:
    return version if program == "powered" else f"{program}.{version}"


class HttpCache:
    """GET with timeouts; every body kept on disk with its sha256 for offline use."""

    def __init__(self, cache_dir: Path | None, session: requests.Session | None = None) -> None:
        self.dir = cache_dir
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", f"tcup/{__version__}")

    def _paths(self, url: str) -> tuple[Path, Path] | None:
        if self.dir is None:
            return None
        parts = urlsplit(url)
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
        leaf = re.sub(r"[^A-Za-z0-9._-]", "_", Path(parts.path).name or "index")
        base = self.dir / re.sub(r"[^A-Za-z0-9._-]", "_", parts.netloc) / f"{key}-{leaf}"
        return base, base.with_name(base.name + ".meta.json")

    def cached(self, url: str) -> bytes | None:
        """The cached body of ``url`` if present and intact."""
        paths = self._paths(url)
        if paths is None or not paths[0].is_file() or not paths[1].is_file():
            return None
        try:
            data = paths[0].read_bytes()
            meta = json.loads(paths[1].read_text("utf-8"))
        except (OSError, ValueError) as exc:
            LOG.warning("ignoring unreadable cache entry for %s: %s", url, exc)
            return None
        if meta.get("sha256") != hashlib.sha256(data).hexdigest():
            LOG.warning("ignoring corrupt cache entry for %s (sha256 mismatch)", url)
            return None
        return data

    def _store(self, url: str, data: bytes) -> None:
        paths = self._paths(url)
        if paths is None:
            return
        body, meta = paths
        try:
            body.parent.mkdir(parents=True, exist_ok=True)
            tmp = body.with_name(body.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(body)
            meta.write_text(
                json.dumps(
                    {
                        "url": url,
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "fetched": datetime.now(UTC).isoformat(timespec="seconds"),
                    },
                    indent=2,
                ),
                "utf-8",
            )
        except OSError as exc:  # a read-only cache must not stop the run
            LOG.warning("cannot cache %s in %s: %s", url, body.parent, exc)

    def get(self, url: str, what: str, prefer_cache: bool = False) -> bytes:
        """Fetch ``url`` (``what`` names it in messages); fall back to the cache offline."""
        if prefer_cache and (hit := self.cached(url)) is not None:
            return hit
        try:
            response = self.session.get(url, timeout=TIMEOUT)
        except requests.RequestException as exc:
            hit = self.cached(url)
            if hit is not None:
                LOG.warning("cannot reach %s (%s); using the cached copy", url, _reason(exc))
                return hit
            raise InputError(
                f"cannot fetch {what} from {url}: {_reason(exc)}",
                hint="check the network, or use --source with a local directory of guidelines",
            ) from exc
        if response.status_code == 404:
            raise InputError(f"no {what} at {url} (HTTP 404)", hint="check the name and the source")
        if response.status_code >= 400:
            hit = self.cached(url)
            if hit is not None and response.status_code >= 500:
                LOG.warning("%s answered HTTP %d; using the cached copy", url, response.status_code)
                return hit
            raise InputError(f"cannot fetch {what} from {url}: HTTP {response.status_code}")
        data = response.content
        self._store(url, data)
        return data


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    return type(exc).__name__


class GuidelineSource(ABC):
    """Where version names are looked up."""

    description: str

    @abstractmethod
    def names(self) -> list[str]:
        """Every guideline name offered (``2020.06``, ``next``, ``dns.2020.06`` ...)."""

    @abstractmethod
    def fetch(self, name: str, prefer_cache: bool = False) -> tuple[bytes, str]:
        """The bytes of guideline ``name`` and where they came from."""


class DirectorySource(GuidelineSource):
    """A local directory, flat or in the interop repository's layout."""

    def __init__(self, path: Path) -> None:
        if not path.is_dir():
            raise InputError(
                f"guideline source '{path}' is not a directory",
                hint="use a directory of guideline files, 'interop', or refstack:<URL>",
            )
        self.path = path
        self.description = str(path)

    def _dirs(self, program: str) -> list[Path]:
        if program == "powered":
            return [self.path, self.path / PLATFORM_DIR]
        return [self.path / "add-ons", self.path / ADD_ON_DIR, self.path]

    def names(self) -> list[str]:
        found = set()
        for folder in (self.path, self.path / PLATFORM_DIR, self.path / "add-ons"):
            for file in (*folder.glob("*.json"), *(folder / "guidelines").glob("*.json")):
                stem = file.name.removesuffix(".json")
                if _NAME.match(stem) and not stem.endswith("latest"):
                    found.add(stem)
        return sorted(found)

    def fetch(self, name: str, prefer_cache: bool = False) -> tuple[bytes, str]:
        program, version = split_name(name)
        filename = f"{_join(program, version)}.json"
        for folder in self._dirs(program):
            file = folder / filename
            if file.is_file():
                return _read_file(file), str(file)
        raise InputError(
            f"no guideline '{_join(program, version)}' in {self.path}",
            hint="available: " + (", ".join(self.names()) or "none"),
        )


class InteropRepoSource(GuidelineSource):
    """Published raw files of an interop repository, listed through its Gitea API."""

    def __init__(self, raw_base: str, listing: str | None, http: HttpCache) -> None:
        self.raw_base = raw_base.rstrip("/") + "/"
        self.listing = listing  # URL template with {folder}, or None

        self.http = http
        self.description = self.raw_base

    def url(self, name: str) -> str:
        program, version = split_name(name)
        folder = PLATFORM_DIR if program == "powered" else ADD_ON_DIR
        return f"{self.raw_base}{folder}/{quote(_join(program, version))}.json"

    def names(self) -> list[str]:
        if self.listing is None:
            raise InputError(
                f"cannot list the guidelines of {self.raw_base}: no listing API known",
                hint="name a version (e.g. --guideline 2020.06) or use a Gitea-hosted copy",
            )
        found = []
        for folder in (PLATFORM_DIR, ADD_ON_DIR):
            url = self.listing.format(folder=folder)
            data = self.http.get(url, "guideline listing")
            try:
                entries = json.loads(data)
                files = [e["name"] for e in entries if e.get("type", "file") == "file"]
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise InputError(f"unexpected guideline listing from {url}") from exc
            found += [f.removesuffix(".json") for f in files if f.endswith(".json")]
        return sorted(n for n in found if _NAME.match(n))

    def fetch(self, name: str, prefer_cache: bool = False) -> tuple[bytes, str]:
        url = self.url(name)
        return self.http.get(url, f"guideline '{name}'", prefer_cache), url


class RefstackSource(GuidelineSource):
    """A RefStack-compatible server: ``GET /v1/guidelines`` and ``/v1/guidelines/{name}``."""

    def __init__(self, api_root: str, http: HttpCache) -> None:
        root = api_root.rstrip("/")
        self.v1 = root if root.endswith("/v1") else f"{root}/v1"
        self.http = http
        self.description = self.v1

    def names(self) -> list[str]:
        url = f"{self.v1}/guidelines"
        data = self.http.get(url, "guideline listing")
        try:
            programs = json.loads(data)
            files = [e["file"] for entries in programs.values() for e in entries]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InputError(
                f"unexpected guideline listing from {url}",
                hint="is it a RefStack-compatible server's API root?",
            ) from exc
        names = [f.removesuffix(".json") for f in files]
        return sorted(n for n in names if _NAME.match(n))

    def fetch(self, name: str, prefer_cache: bool = False) -> tuple[bytes, str]:
        url = f"{self.v1}/guidelines/{quote(name.removesuffix('.json'))}"
        return self.http.get(url, f"guideline '{name}'", prefer_cache), url


def open_source(spec: str | None = None, cache_dir: Path | None = None) -> GuidelineSource:
    """The source named by ``spec`` (see the module doc); ``None`` means ``interop``."""
    spec = (spec or "interop").strip()
    http = HttpCache(cache_dir if cache_dir is not None else default_cache_dir())
    if spec == "interop":
        return InteropRepoSource(INTEROP_RAW_BASE, INTEROP_LISTING, http)
    if spec.startswith("interop:"):
        raw = spec.removeprefix("interop:")
        return InteropRepoSource(raw, _gitea_listing(raw), http)
    if spec.startswith("refstack:"):
        return RefstackSource(spec.removeprefix("refstack:"), http)
    if spec.startswith(("http://", "https://")):
        if urlsplit(spec).path.rstrip("/").endswith("/v1"):
            return RefstackSource(spec, http)
        return InteropRepoSource(spec, _gitea_listing(spec), http)
    return DirectorySource(Path(spec).expanduser())


def _gitea_listing(raw_base: str) -> str | None:
    """``https://host/owner/repo/raw/branch/b/`` -> its Gitea contents API template."""
    parts = urlsplit(raw_base)
    found = re.match(r"^/(?P<repo>[^/]+/[^/]+)/raw/branch/(?P<branch>[^/]+)/?$", parts.path)
    if not found:
        return None
    repo, branch = found.group("repo"), found.group("branch")
    return f"{parts.scheme}://{parts.netloc}/api/v1/repos/{repo}/contents/{{folder}}?ref={branch}"


def default_cache_dir() -> Path:
    return settings.cache_dir() / "guidelines"


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"guideline file '{path}' does not exist") from exc
    except OSError as exc:
        raise InputError(f"cannot read guideline '{path}': {exc.strerror}") from exc


def _is_path(spec: str) -> bool:
    return spec.endswith(".json") and ("/" in spec or "\\" in spec or Path(spec).exists())


def load_guideline(
    spec: str, source: str | GuidelineSource | None = None, cache_dir: Path | None = None
) -> Guideline:
    """Load the guideline named by ``spec`` (path, URL or version name)."""
    spec = spec.strip()
    if spec.startswith(("http://", "https://")):
        http = HttpCache(cache_dir if cache_dir is not None else default_cache_dir())
        return parse_guideline(http.get(spec, "guideline"), spec)
    if _is_path(spec) or Path(spec).is_file():
        path = Path(spec).expanduser()
        return parse_guideline(_read_file(path), str(path))
    resolved = source if isinstance(source, GuidelineSource) else open_source(source, cache_dir)
    if spec.endswith(".json") and not _NAME.match(spec.removesuffix(".json")):
        raise InputError(
            f"guideline file '{spec}' does not exist",
            hint="give the path of a guideline file, a URL, or a version such as 2020.06",
        )
    program, version = split_name(spec)
    if version == "latest":
        return latest(resolved, program)
    data, origin = resolved.fetch(_join(program, version))
    return parse_guideline(data, origin)


_PROGRAM = re.compile(r"^[a-z][a-z0-9_]*$")


def load_add_on(
    spec: str,
    guideline: Guideline,
    source: str | GuidelineSource | None = None,
    cache_dir: Path | None = None,
) -> Guideline:
    """Load the add-on named by ``spec`` for ``guideline``.

    A bare add-on name (``dns``, ``orchestration``) means that add-on's file of
    the guideline's own version (``dns.2020.06`` beside ``2020.06``; its newest
    approved one when the guideline has no version name); anything else is a
    guideline spec as :func:`load_guideline` takes it.  An add-on the source
    does not have is an :class:`InputError` naming the add-ons it has.
    """
    spec = spec.strip()
    bare = bool(_PROGRAM.match(spec)) and spec not in ("next", "latest")
    if not bare and (
        spec.startswith(("http://", "https://")) or _is_path(spec) or Path(spec).is_file()
    ):
        return load_guideline(spec, source, cache_dir)
    if source is None and bare and Path(guideline.source).is_file():
        # a guideline read from a file: its add-ons beside it (flat or the interop layout)
        folder = Path(guideline.source).resolve().parent
        source = str(folder.parent if folder.name == PLATFORM_DIR else folder)
    resolved = source if isinstance(source, GuidelineSource) else open_source(source, cache_dir)
    if bare:
        version = guideline.id if _NAME.match(guideline.id) else "latest"
        name = f"{spec}.{split_name(version)[1]}"
    else:
        name = spec
    try:
        return load_guideline(name, resolved, cache_dir)
    except InputError as exc:
        program, version = split_name(name)
        if program == "powered":
            raise
        offered = _add_ons_in(resolved)
        if offered is None:
            raise
        where = resolved.description
        if not any(n.startswith(program + ".") for n in offered):
            message = f"the guideline source {where} has no add-on '{program}'"
        else:
            message = f"the guideline source {where} has no '{program}' add-on for {version}"
        raise InputError(
            message,
            hint="add-ons there: "
            + (", ".join(offered) or "none")
            + " (--add-on takes a name such as dns, or a file such as dns.2020.06)",
        ) from exc


def _add_ons_in(source: GuidelineSource) -> list[str] | None:
    """The add-on guidelines ``source`` offers, None when it cannot list them."""
    try:
        names = source.names()
    except InputError:
        return None
    return [n for n in names if split_name(n)[0] != "powered"]


def latest(source: GuidelineSource, program: str = "powered") -> Guideline:
    """The newest approved ``YYYY.MM`` guideline of ``program`` in ``source``."""
    dated = []
    for name in source.names():
        prog, version = split_name(name)
        if prog == program and _DATED.match(version):
            dated.append(name)
    for name in sorted(dated, reverse=True):
        data, origin = source.fetch(name, prefer_cache=True)
        guideline = parse_guideline(data, origin)
        if guideline.status == "approved":
            return guideline
        LOG.info("skipping %s for 'latest': status %s", name, guideline.status)
    raise InputError(
        f"no approved {'' if program == 'powered' else program + ' '}guideline in "
        f"{source.description}",
        hint="name a version explicitly, e.g. --guideline 2020.06",
    )


def available_guidelines(
    source: str | GuidelineSource | None = None,
    cache_dir: Path | None = None,
    load: Callable[[bytes, str], Guideline] = parse_guideline,
) -> list[GuidelineRef]:
    """Every guideline of ``source`` with its status and targets (newest first per program).

    Each file is read once (cached copies preferred, so listing is cheap after
    the first time); an unreadable file is listed with its error.
    """
    resolved = source if isinstance(source, GuidelineSource) else open_source(source, cache_dir)
    refs = []
    for name in resolved.names():
        program, _ = split_name(name)
        try:
            data, origin = resolved.fetch(name, prefer_cache=True)
            guideline = load(data, origin)
        except InputError as exc:
            refs.append(GuidelineRef(name, program, error=exc.message))
            continue
        refs.append(
            GuidelineRef(
                name=name,
                program=program,
                status=guideline.status,
                targets=tuple(t.name for t in guideline.targets),
                origin=origin,
                schema=guideline.schema,
            )
        )
    # platform guidelines first, then add-ons by name; within one: next, then newest first
    refs.sort(key=lambda r: split_name(r.name)[1], reverse=True)
    refs.sort(key=lambda r: (r.program != "powered", r.program))
    return refs

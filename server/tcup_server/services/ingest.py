"""Ingest one upload: validate in RefStack's order, verify, score, store, sign a receipt.

The stored record is all-or-nothing: the artefacts (exact body, subunit,
extended results, manifest) are written to the artefact store while the
result, its tests, artefact rows, idempotency key and audit event are inserted
in one database transaction, which commits only once every artefact is stored.
If the transaction fails the artefacts are deleted again; a crash in between
leaves at most unreferenced (encrypted) objects, never a partial record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Insert, Select, Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tcup import signing
from tcup.errors import InputError
from tcup_server.models import (
    Artefact,
    ArtefactKind,
    AuditEvent,
    IdempotencyKey,
    PubKey,
    Result,
    ResultTests,
    ReviewState,
    User,
    new_id,
    note_audit,
    utcnow,
)
from tcup_server.services.guidelines import GuidelineDirectory
from tcup_server.storage import ArtefactStore, put_all

LOG = logging.getLogger(__name__)

MAX_NAME = 512
RECEIPT_FIELDS = ("test_id", "url", "sha256", "created_at", "key_fingerprint", "covered")
ANONYMOUS_DISABLED = (
    "Anonymous result uploads are disabled, please create a user account and sign your results."
)
KEY_NOT_FOUND = (
    "User with specified key not found. Please log into the RefStack server to upload your key."
)


#: ``Upload.document`` of a body not parsed yet
UNPARSED: Any = object()

#: query parameters that set metadata; never accepted on a signed upload (not signed)
QUERY_METADATA = ("guideline", "target", "add_on", "cpid", "duration_seconds")
MAX_DURATION = 7 * 24 * 3600  # a week: longer is not a Tempest run
MAX_JSON_INT = 2**53
MAX_NAME_LENGTH = 64  # guideline and target names (column width)


class IngestRefused(InputError):
    """An upload the server refuses: ``status``, ``title`` and ``detail`` are its answer."""

    def __init__(self, status: int, title: str, detail: str | None = None) -> None:
        super().__init__(title, hint=detail)
        self.status = status
        self.title = title
        self.detail = detail


@dataclass
class Upload:
    """What the API layer took from one request; nothing here is trusted yet."""

    body: bytes  # the exact bytes received
    kind: str = "json"  # json | subunit | tcup (the native multipart submission)
    signature: str | None = None
    public_key: str | None = None
    idempotency_key: str | None = None
    #: the metadata query parameters present in the request (unsigned, whatever the kind)
    query_metadata: tuple[str, ...] = ()
    guideline: str | None = None
    target: str | None = None
    add_ons: tuple[str, ...] = ()
    cpid: str | None = None  # subunit uploads only
    duration_seconds: int = 0  # subunit uploads only
    # native uploads: the parts, envelope included, already split out of the body
    parts: Mapping[str, bytes] = field(default_factory=dict)
    #: RefStack JSON uploads: ``body`` parsed as ``tcup.results.load_refstack`` parses it
    #: (the input guard's parse, ``tcup_server.safe_json.loads(body, bom=False)``);
    #: ``UNPARSED``: ingest parses ``body`` itself
    document: Any = UNPARSED

    @property
    def signed(self) -> bool:
        return self.signature is not None or self.public_key is not None


@dataclass(frozen=True)
class Receipt:
    test_id: str
    url: str
    sha256: str
    created_at: str
    key_fingerprint: str | None
    covered: dict[str, Any]
    receipt_signature: str
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "url": self.url,
            "sha256": self.sha256,
            "created_at": self.created_at,
            "key_fingerprint": self.key_fingerprint,
            "covered": self.covered,
            "receipt_signature": self.receipt_signature,
        }


def receipt_payload(fields: Mapping[str, Any]) -> bytes:
    """The exact bytes the receipt signature covers (canonical JSON of RECEIPT_FIELDS)."""
    return json.dumps(
        {k: fields.get(k) for k in RECEIPT_FIELDS}, sort_keys=True, separators=(",", ":")
    ).encode("utf-8")


@dataclass
class IngestContext:
    sessions: sessionmaker[Session]
    store: ArtefactStore
    guidelines: GuidelineDirectory
    receipt_key: signing.ReceiptKey
    result_url: Callable[[str], str]
    allow_anonymous: bool = False
    default_guideline: str = "2020.06"
    default_target: str = "platform"
    max_tests: int = 100_000


@dataclass
class _Checked:
    """A validated upload, ready to score and store."""

    body: dict[str, Any]
    names: list[str]
    fingerprint: str | None
    owner_id: int | None
    artefacts: dict[str, tuple[bytes, str]]  # kind -> (bytes, content type)
    signed_sha256: str  # digest of what the signature covers (the body, or the envelope)
    signed_digest: str | None  # identity of a signed upload: key + signed_sha256
    earlier: str | None  # the id of the record this signed content already has
    guideline: str | None  # None: the server's default
    target: str | None
    add_ons: tuple[str, ...]
    states: Mapping[str, str] | None  # every test's state (tcup.testids.TestStates), if known
    not_in_tempest: tuple[str, ...]  # planned tests the run's Tempest lacks (manifest)
    manifest: dict[str, Any] | None = None


# ---------------------------------------------------------------- validation


def _refstack_body(source: bytes, document: Any = UNPARSED) -> dict[str, Any]:
    """The parsed RefStack JSON, checked by tcup.results in RefStack's order (parsed once).

    ``document``: ``source`` already parsed by ``load_refstack``'s rule (strict
    UTF-8 JSON, no BOM), as the input guard does; else it is parsed here.
    """
    from tcup import results

    malformed = IngestRefused(400, "Malformed request", "the body is not JSON")
    if document is not UNPARSED:
        data = document
    else:
        try:
            data = results.load_refstack(source)
        except RecursionError:
            raise malformed from None
        except InputError as exc:
            # not strict UTF-8 JSON: RefStack's answer when it is no JSON at all, else the
            # schema's
            try:
                json.loads(source)
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise malformed from None
            raise IngestRefused(400, "Request doesnt correspond to schema", exc.message) from None
    try:
        results.validate_refstack(data)
    except InputError as exc:
        problems = getattr(exc, "problems", ())
        # RefStack checks the signature before refusing an empty list: keep its order.
        if not (problems and all(p.startswith("results: empty") for p in problems)):
            raise IngestRefused(400, "Request doesnt correspond to schema", exc.message) from None
    if not isinstance(data, dict):  # validate_refstack accepted it, so this cannot happen
        raise IngestRefused(400, "Request doesnt correspond to schema")
    return data


def _read_subunit(stream: bytes) -> Any:
    from tcup import results

    try:
        return results.read_subunit(stream)
    except InputError as exc:
        raise IngestRefused(400, "Malformed subunit stream", exc.message) from None


def check_duration(value: Any, where: str) -> int:
    """A run's duration in seconds: an integer from 0 to a week."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise IngestRefused(
            400, "Request doesnt correspond to schema", f"{where} is not an integer"
        )
    if not 0 <= value <= MAX_DURATION:
        raise IngestRefused(
            400,
            "Request doesnt correspond to schema",
            f"{where} must be from 0 to {MAX_DURATION} seconds (a week), not {value}",
        )
    return value


def _check_names(body: Mapping[str, Any], max_tests: int) -> list[str]:
    items = body.get("results") or []
    if len(items) > max_tests:
        raise IngestRefused(413, f"Too many tests: {len(items)} (at most {max_tests})")
    # The usual list, unique printable names of 1 to MAX_NAME characters, is checked a
    # whole at a time; any other is walked below, to name its first problem.
    names = [item.get("name") if type(item) is dict else None for item in items]
    if (
        all(type(name) is str for name in names)
        and all(map(str.isprintable, names))
        and min(map(len, names), default=1) >= 1
        and max(map(len, names), default=0) <= MAX_NAME
        and len(set(names)) == len(names)
    ):
        return names
    names = []
    seen: set[str] = set()
    for item in items:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            raise IngestRefused(
                400,
                "Request doesnt correspond to schema",
                f"test names must be 1 to {MAX_NAME} characters",
            )
        if not name.isprintable():
            raise IngestRefused(
                400,
                "Request doesnt correspond to schema",
                f"test name {name[:80]!r} contains non-printable characters",
            )
        if name in seen:
            raise IngestRefused(
                400, "Request doesnt correspond to schema", f"duplicate test name {name!r}"
            )
        seen.add(name)
        names.append(name)
    return names


def _check_signature(upload: Upload, signed_bytes: bytes) -> str | None:
    """RefStack's order: hex decode, key parse, verify.  Returns the key fingerprint."""
    if not upload.signed:
        return None
    signature = (upload.signature or "").strip()
    try:
        bytes.fromhex(signature)
        if not signature:
            raise ValueError
    except ValueError:
        raise IngestRefused(400, "Malformed signature") from None
    try:
        signing.load_public_key(upload.public_key or "")
    except InputError as exc:
        raise IngestRefused(400, "Malformed public key", exc.message) from None
    try:
        signing.verify(signed_bytes, signature, upload.public_key or "")
    except InputError as exc:
        raise IngestRefused(400, "Signature verification failed", exc.message) from None
    return signing.fingerprint(upload.public_key or "")


def _refuse_unsigned_metadata(upload: Upload) -> None:
    """Nothing unsigned may set metadata of a signed upload."""
    if upload.signed and upload.query_metadata:
        names = ", ".join(upload.query_metadata)
        raise IngestRefused(
            400,
            "Unsigned metadata refused",
            f"query parameter(s) {names} are not covered by the signature, so they may not "
            "set metadata of a signed upload; send the run with its signed manifest to "
            "POST /v1/tcup/results (tcup upload does), or set guideline and target after "
            "the upload through /v1/results/{id}/meta",
        )


@cache
def _owner_query() -> Select[tuple[int, dt.datetime | None, str | None]]:
    """``_owner``'s statement: built once, so that SQLAlchemy finds its compiled form
    without building it and its cache key again for every upload."""
    earlier = (
        select(Result.id)
        .where(Result.signed_digest == bindparam("signed_digest"))
        .scalar_subquery()
    )
    return (
        select(PubKey.user_id, User.disabled_at, earlier.label("earlier"))
        .join(PubKey.user)
        .where(PubKey.fingerprint == bindparam("fingerprint"), PubKey.revoked_at.is_(None))
    )


def _owner(
    session: Session, fingerprint: str | None, allow_anonymous: bool, signed_digest: str | None
) -> tuple[int | None, str | None]:
    """The uploader's user id, and the id of the record this signed content already has.

    One query for the key, its user and the earlier record: most uploads are new,
    and asking for both at once saves each of them a round trip to the database.
    """
    if fingerprint is None:
        if not allow_anonymous:
            raise IngestRefused(401, "Unauthorized", ANONYMOUS_DISABLED)
        return None, None
    key = session.execute(
        _owner_query(), {"fingerprint": fingerprint, "signed_digest": signed_digest}
    ).first()
    if key is None or key.disabled_at is not None:
        raise IngestRefused(401, "Unauthorized", KEY_NOT_FOUND)
    return key.user_id, key.earlier


def _read_manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise IngestRefused(400, "Malformed manifest", "manifest.json is not JSON") from None
    if not isinstance(manifest, dict):
        raise IngestRefused(400, "Malformed manifest", "manifest.json must be a JSON object")
    for key in ("guideline", "target"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise IngestRefused(400, "Malformed manifest", f"manifest.json has no {key}")
    for key in ("add_ons", "not_in_tempest"):
        names = manifest.get(key) or []
        if not isinstance(names, list) or not all(isinstance(a, str) and a for a in names):
            raise IngestRefused(400, "Malformed manifest", f"manifest.json {key}: not names")
    _check_numbers(manifest, "manifest.json")
    return manifest


def _check_numbers(value: Any, where: str) -> None:
    """No negative count or time, no integer beyond JSON's exact range (2**53)."""
    stack = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}", v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
        elif (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and not 0 <= item < MAX_JSON_INT
        ):
            raise IngestRefused(
                400, "Malformed manifest", f"{path}: {item} is negative or too large"
            )


def check_metadata(
    guidelines: GuidelineDirectory, guideline: str, target: str, add_ons: tuple[str, ...]
) -> None:
    """Guideline, target and add-on names must be those of the synced guidelines (else 400)."""
    known = {f.file.removesuffix(".json"): guidelines.load(f.file) for f in guidelines.files()}
    main = known.get(guideline.removesuffix(".json"))
    if main is None or main.kind != "platform":
        valid = [n for n, g in known.items() if g is not None and g.kind == "platform"]
        raise IngestRefused(
            400,
            "Unknown guideline",
            f"guideline {guideline[:MAX_NAME_LENGTH]!r} is not one of this server's: "
            + (", ".join(valid) or "none"),
        )
    try:
        main.resolve_target(target)
    except InputError:
        raise IngestRefused(
            400,
            "Unknown target",
            f"guideline {main.id} has no target {target[:MAX_NAME_LENGTH]!r}; valid targets: "
            + ", ".join(main.target_names()),
        ) from None
    for name in add_ons:
        add_on = known.get(name.removesuffix(".json"))
        if add_on is None or add_on.kind != "add-on":
            valid = [n for n, g in known.items() if g is not None and g.kind == "add-on"]
            raise IngestRefused(
                400,
                "Unknown add-on",
                f"add-on {name[:MAX_NAME_LENGTH]!r} is not one of this server's: "
                + (", ".join(valid) or "none"),
            )


def _signed_digest(fingerprint: str | None, signed_sha256: str) -> str | None:
    if fingerprint is None:
        return None
    return hashlib.sha256(f"{fingerprint}\n{signed_sha256}".encode()).hexdigest()


def _check_native(upload: Upload) -> tuple[bytes, dict[str, Any], dict[str, str] | None]:
    """The envelope, the manifest and every test's state of a native submission."""
    from tcup import results, submission

    envelope = upload.parts.get(submission.ENVELOPE)
    if envelope is None:
        raise IngestRefused(
            400,
            "Malformed request",
            f"a submission needs its '{submission.ENVELOPE}' part ({submission.SCHEMA}), "
            "which the signature covers",
        )
    parts = {k: v for k, v in upload.parts.items() if k != submission.ENVELOPE}
    try:
        submission.check_parts(envelope, parts)
    except InputError as exc:
        raise IngestRefused(400, "Malformed submission", exc.message) from None
    manifest = _read_manifest(parts["manifest"])
    states = None
    if "extended" in parts:
        try:
            extended = results.read_extended(parts["extended"], "results-extended.json")
        except InputError as exc:
            raise IngestRefused(400, "Malformed extended results", exc.message) from None
        states = extended.results.states()
    elif "subunit" in parts:
        states = _read_subunit(parts["subunit"]).states()
    return envelope, manifest, states


def check(ctx: IngestContext, upload: Upload, session: Session) -> _Checked:
    """Validate ``upload`` in RefStack's order; raise ``IngestRefused`` on the first problem."""
    from tcup import results

    manifest = None
    states = None
    if upload.kind == "tcup":
        envelope, manifest, states = _check_native(upload)
        signed_bytes = envelope
        body = _refstack_body(upload.parts["results"])
    elif upload.kind == "subunit":
        signed_bytes = upload.body
        run = _read_subunit(upload.body)
        states = run.states()
        body = results.refstack_body(run, upload.cpid or "-", upload.duration_seconds)
    else:
        signed_bytes = upload.body
        body = _refstack_body(upload.body, upload.document)
    fingerprint = _check_signature(upload, signed_bytes)
    _refuse_unsigned_metadata(upload)
    if upload.kind == "subunit" and not upload.cpid:
        raise IngestRefused(
            400,
            "Missing cpid",
            "a signed subunit stream cannot carry its cpid (the query is not signed): send "
            "the RefStack body (tcup upload-subunit) or the run to POST /v1/tcup/results"
            if upload.signed
            else "a subunit upload needs the cpid query parameter",
        )
    check_duration(body.get("duration_seconds"), "duration_seconds")
    names = _check_names(body, ctx.max_tests)
    if not names:
        raise IngestRefused(400, "Uploaded results must contain at least one passing test.")
    signed_sha = hashlib.sha256(signed_bytes).hexdigest()
    signed_digest = _signed_digest(fingerprint, signed_sha)
    owner_id, earlier = _owner(session, fingerprint, ctx.allow_anonymous, signed_digest)

    if manifest is not None:
        guideline, target = manifest["guideline"], manifest["target"]
        add_ons = tuple(manifest.get("add_ons") or ())
    else:
        guideline, target, add_ons = upload.guideline, upload.target, upload.add_ons
    if guideline or target or add_ons:
        check_metadata(
            ctx.guidelines,
            guideline or ctx.default_guideline,
            target or ctx.default_target,
            add_ons,
        )

    artefacts: dict[str, tuple[bytes, str]] = {}
    if upload.kind == "tcup":
        from tcup import submission

        artefacts[ArtefactKind.UPLOAD.value] = (upload.parts["results"], "application/json")
        artefacts[ENVELOPE_KIND] = (signed_bytes, ENVELOPE_TYPE)
        for kind in ("subunit", "extended", "manifest"):
            if kind in upload.parts:
                ctype = "application/octet-stream" if kind == "subunit" else "application/json"
                artefacts[kind] = (upload.parts[kind], ctype)
        assert set(upload.parts) <= {*submission.PART_FILES, submission.ENVELOPE}
    elif upload.kind == "subunit":
        artefacts[ArtefactKind.UPLOAD.value] = (upload.body, "application/octet-stream")
        artefacts[ArtefactKind.SUBUNIT.value] = (upload.body, "application/octet-stream")
    else:
        artefacts[ArtefactKind.UPLOAD.value] = (upload.body, "application/json")
    if upload.kind == "subunit":
        body = {**body, "cpid": upload.cpid}
    return _Checked(
        body=body,
        names=names,
        fingerprint=fingerprint,
        owner_id=owner_id,
        artefacts=artefacts,
        signed_sha256=signed_sha,
        signed_digest=signed_digest,
        earlier=earlier,
        guideline=guideline,
        target=target,
        add_ons=tuple(add_ons),
        states=states,
        not_in_tempest=tuple((manifest or {}).get("not_in_tempest") or ()),
        manifest=manifest,
    )


# ------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Scored:
    summary: dict[str, Any] | None  # None: the server cannot score it
    guideline_sha256: str | None
    verdict: str | None


def score_run(
    guidelines: GuidelineDirectory,
    guideline: str,
    target: str,
    names: list[str],
    add_ons: tuple[str, ...] = (),
    states: Mapping[str, str] | None = None,
    not_in_tempest: tuple[str, ...] = (),
) -> Scored:
    """Score a run with ``tcup.scoring.score_run``, as ``tcup run`` and ``tcup report`` do.

    ``states`` (every test's state, from a subunit stream or extended results)
    when the upload has them; else the passed ``names`` are all that is known.
    """
    from tcup import scoring

    parsed = guidelines.load(guideline)
    if parsed is None:
        LOG.info("result not scored: guideline %s is not on this server", guideline)
        return Scored(None, None, None)
    extra = []
    for name in add_ons:
        add_on = guidelines.load(name)
        if add_on is None:
            LOG.info("result not scored: add-on %s is not on this server", name)
            return Scored(None, parsed.sha256, None)
        extra.append(add_on)
    run_states = states if states is not None else dict.fromkeys(names, "passed")
    try:
        result = scoring.score_run(
            parsed,
            target,
            run_states,  # type: ignore[arg-type]
            extra,
            not_in_tempest=not_in_tempest,
        )
    except InputError as exc:
        LOG.info("result not scored: %s", exc.message)
        return Scored(None, parsed.sha256, None)
    summary = score_summary(result, "states" if states is not None else "passed")
    return Scored(summary, parsed.sha256, summary["verdict"])


def score_summary(result: Any, basis: str = "passed") -> dict[str, Any]:
    """A JSON form of a ``tcup.scoring.Score`` for storage and the results API.

    Outcomes, counts, the verdict line and the verdict of each programme (the
    target's, each add-on's: ``programmes``) are those of ``tcup report``'s JSON
    (``tcup.report.report_json``); ``tests`` keeps the state of every test that
    did not pass, so pages never need the artefacts to tell failed from not run.
    """
    from tcup import report

    return {
        "guideline": result.guideline_id,
        "guideline_sha256": result.guideline_sha256,
        "target": result.target,
        "add_ons": list(result.add_ons),
        "qualifies": result.qualifies,
        "verdict": report.verdict(result),
        "basis": basis,
        "missing_required": list(result.missing_required),
        # one verdict per programme (the target, each add-on from the signed manifest)
        "programmes": [report.programme_json(p) for p in result.programmes],
        "required_passed": result.required_passed,
        "required_total": result.required_total,
        "capabilities": [
            {
                **report.capability_counts(c),
                "tests": {
                    t.name: {"state": t.state, "flagged": t.flagged}
                    for t in c.tests
                    if t.state != "passed"
                },
            }
            for c in result.capabilities
        ],
    }


def score_columns(scored: Scored) -> dict[str, Any]:
    """The columns of a result that its score sets."""
    return {
        "score": scored.summary,
        "guideline_sha256": scored.guideline_sha256,
        "qualifies": scored.summary["qualifies"] if scored.summary else None,
        "verdict": scored.verdict,
        "score_basis": scored.summary["basis"] if scored.summary else None,
    }


def apply_score(row: Result, scored: Scored) -> None:
    for column, value in score_columns(scored).items():
        setattr(row, column, value)


def stored_states(store: ArtefactStore, row: Result) -> dict[str, str] | None:
    """Every test's state from the run's stored extended results or subunit stream."""
    from tcup import results

    kinds = {a.kind: a for a in row.artefacts}
    try:
        if ArtefactKind.EXTENDED.value in kinds:
            data = store.get(kinds[ArtefactKind.EXTENDED.value].storage_key)
            return results.read_extended(data, "results-extended.json").results.states()
        if ArtefactKind.SUBUNIT.value in kinds:
            data = store.get(kinds[ArtefactKind.SUBUNIT.value].storage_key)
            return results.read_subunit(data).states()
    except InputError:
        LOG.warning("result %s: stored test states unreadable", row.id)
    return None


def rescore(ctx: IngestContext, row: Result) -> None:
    """Score ``row`` again against its (changed) guideline and target, from what it stored."""
    states = stored_states(ctx.store, row) if row.score_basis == "states" else None
    names = row.tests.names() if row.tests else []
    apply_score(
        row,
        score_run(
            ctx.guidelines,
            row.guideline or ctx.default_guideline,
            row.target or ctx.default_target,
            names,
            tuple(row.add_ons or ()),
            states,
        ),
    )


# ------------------------------------------------------------------ storing

ENVELOPE_KIND = "envelope"
ENVELOPE_TYPE = "application/vnd.tcup.submission+json"


def _covered(upload_sha256: str, digests: Mapping[str, str]) -> dict[str, Any]:
    """What the upload's signature covered (the body, or the envelope and its parts),
    from the record's digest and its artefacts' (kind -> sha256)."""
    if ENVELOPE_KIND in digests:
        parts = {
            "results" if kind == ArtefactKind.UPLOAD.value else kind: sha
            for kind, sha in digests.items()
            if kind != ENVELOPE_KIND
        }
        return {"signed": "envelope", "sha256": upload_sha256, "parts": parts}
    return {"signed": "body", "sha256": upload_sha256}


def _receipt(ctx: IngestContext, row: Result, replayed: bool = False) -> Receipt:
    """The receipt of a stored record."""
    record = {
        "id": row.id,
        "upload_sha256": row.upload_sha256,
        "created_at": row.created_at,
        "key_fingerprint": row.key_fingerprint,
    }
    return _receipt_of(ctx, record, {a.kind: a.sha256 for a in row.artefacts}, replayed)


def _receipt_of(
    ctx: IngestContext,
    record: Mapping[str, Any],
    digests: Mapping[str, str],
    replayed: bool = False,
) -> Receipt:
    """The signed receipt of a record (its column values: a stored row's, or those
    just inserted) and its artefacts' digests (kind -> sha256)."""
    fields = {
        "test_id": record["id"],
        "url": ctx.result_url(record["id"]),
        "sha256": record["upload_sha256"],
        "created_at": record["created_at"].strftime("%Y-%m-%d %H:%M:%S"),
        "key_fingerprint": record["key_fingerprint"],
        "covered": _covered(record["upload_sha256"], digests),
    }
    signature = signing.sign_receipt(receipt_payload(fields), ctx.receipt_key)
    return Receipt(**fields, receipt_signature=signature, replayed=replayed)


def _signed_replay(ctx: IngestContext, session: Session, result_id: str | None) -> Receipt | None:
    """The receipt of record ``result_id``, the first of some signed content, whatever
    the Idempotency-Key said (None for no record, or one deleted since)."""
    row = session.get(Result, result_id) if result_id is not None else None
    return _receipt(ctx, row, replayed=True) if row is not None else None


def _earlier(session: Session, digest: str) -> str | None:
    """The id of the record of this signed content, if there is one."""
    return session.scalar(select(Result.id).where(Result.signed_digest == digest))


def _replay(
    ctx: IngestContext, session: Session, scope: str, key: str, request_sha: str
) -> Receipt | None:
    row = session.get(IdempotencyKey, (scope, key))
    if row is None:
        return None
    if row.request_sha256 != request_sha:
        raise IngestRefused(
            422,
            "Idempotency-Key reused with a different body",
            f"key {key!r} was first used for another upload; use a new key",
        )
    result = session.get(Result, row.result_id)
    if result is None:  # the result was deleted since: treat as a new upload
        session.delete(row)
        session.flush()
        return None
    return _receipt(ctx, result, replayed=True)


def _repeated(
    ctx: IngestContext,
    session: Session,
    signed_digest: str | None,
    scope: str,
    key: str,
    request_sha: str,
) -> Receipt | None:
    """The receipt of the record an upload repeats: by its signed content when signed,
    else by its Idempotency-Key; None for a new upload."""
    if signed_digest is not None:
        return _signed_replay(ctx, session, _earlier(session, signed_digest))
    return _replay(ctx, session, scope, key, request_sha)


Rows = list[tuple[Table, list[dict[str, Any]]]]


@cache
def _insert(table: Table) -> Insert:
    """``INSERT INTO table``, built once: SQLAlchemy then finds its compiled form without
    building it and its cache key again for every upload."""
    return insert(table)


@cache
def _insert_all(shape: tuple[tuple[Table, tuple[str, ...]], ...]) -> Insert:
    """One statement inserting one row per (table, columns) of the shape, with parameters
    ``p{row}_{column}``: the last row's INSERT is the statement, the others' data-modifying
    CTEs (PostgreSQL).  Built once per shape; single-row INSERTs, as SQLAlchemy caches no
    compiled form of a multi-row VALUES."""
    *ctes, statement = (
        insert(table).values({c: bindparam(f"p{n}_{c}", type_=table.c[c].type) for c in columns})
        for n, (table, columns) in enumerate(shape)
    )
    for n, cte in enumerate(ctes):
        statement = statement.add_cte(cte.cte(f"insert_{n}"))
    return statement


def _insert_rows(session: Session, rows: Rows) -> None:
    """Insert ``rows`` (each table's rows, the referenced tables first).

    On PostgreSQL one statement inserts them all: an upload then costs one round trip to
    the database for its record instead of one per table, and the foreign keys are still
    checked (at the end of the statement).  SQLite, in process, has no round trips to save
    and no data-modifying CTEs: one statement per table.
    """
    if session.get_bind().dialect.name != "postgresql":
        for table, values in rows:
            session.execute(_insert(table), values if len(values) > 1 else values[0])
        return
    each = [(table, row) for table, values in rows for row in values]
    params = {
        f"p{n}_{column}": value for n, (_, row) in enumerate(each) for column, value in row.items()
    }
    session.execute(_insert_all(tuple((table, tuple(row)) for table, row in each)), params)


def ingest(ctx: IngestContext, upload: Upload) -> Receipt:
    """Validate, score and store one upload; return its signed receipt.

    A signed upload is identified by its key and signed content: sending the
    same signed content again (any Idempotency-Key, any query) answers the
    first record.  The Idempotency-Key only matters for anonymous uploads.
    """
    with ctx.sessions() as session:  # one session, so one connection checkout, per upload
        return _ingest(ctx, upload, session)


def _ingest(ctx: IngestContext, upload: Upload, session: Session) -> Receipt:
    checked = check(ctx, upload, session)
    request_sha = checked.signed_sha256
    scope = "anonymous"
    key = upload.idempotency_key or request_sha
    if checked.signed_digest is not None:  # the owner's lookup looked for its record
        replay = _signed_replay(ctx, session, checked.earlier)
    else:
        replay = _replay(ctx, session, scope, key, request_sha)
    if replay is not None:
        session.commit()
        return replay

    result_id = new_id()
    objects = {
        f"results/{result_id[:2]}/{result_id}/{kind}": data
        for kind, (data, _ctype) in checked.artefacts.items()
    }
    # The artefacts are written (and synced) in the background while the record is scored
    # and inserted; the transaction commits only once every one of them is stored.
    writing = put_all(ctx.store, objects)
    try:
        result, digests, rows = _record(ctx, checked, result_id, objects, scope, key)
        _insert_rows(session, rows)
        note_audit(session, "upload", None, result["review_state"])
        writing.result()  # every artefact stored before the record that refers to them
        session.commit()
    except IntegrityError:
        session.rollback()
        _cleanup(ctx.store, objects, writing)
        # A concurrent request with the same signed content (or idempotency key) won the race.
        replay = _repeated(ctx, session, checked.signed_digest, scope, key, request_sha)
        if replay is not None:
            session.commit()
            return replay
        raise
    except BaseException:
        session.rollback()
        _cleanup(ctx.store, objects, writing)
        raise
    LOG.info("stored result %s (%d tests, owner %s)", result_id, len(checked.names), scope)
    return _receipt_of(ctx, result, digests)


def _record(
    ctx: IngestContext,
    checked: _Checked,
    result_id: str,
    objects: Mapping[str, bytes],
    scope: str,
    key: str,
) -> tuple[dict[str, Any], dict[str, str], Rows]:
    """A new upload's record: the result's columns, its artefacts' digests (kind ->
    sha256) and every row to insert (the result, its tests, its artefacts, the
    idempotency key of an unsigned upload, the audit event)."""
    guideline = checked.guideline or ctx.default_guideline
    target = checked.target or ctx.default_target
    add_ons = checked.add_ons
    scored = score_run(
        ctx.guidelines,
        guideline,
        target,
        checked.names,
        add_ons,
        checked.states,
        checked.not_in_tempest,
    )
    now = utcnow()
    created_at = now.replace(microsecond=0)
    artefacts = [
        {
            "result_id": result_id,
            "kind": kind,
            "storage_key": storage_key,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "content_type": ctype,
            "created_at": now,
        }
        for storage_key, (kind, (data, ctype)) in zip(
            objects, checked.artefacts.items(), strict=True
        )
    ]
    meta: dict[str, Any] = {"guideline": guideline, "target": target}
    if add_ons:
        meta["add_ons"] = ",".join(add_ons)
    result = {
        "id": result_id,
        "owner_id": checked.owner_id,
        "cpid": str(checked.body["cpid"]),
        "duration_seconds": int(checked.body["duration_seconds"]),
        "guideline": guideline,
        "target": target,
        "add_ons": list(add_ons),
        "upload_sha256": checked.signed_sha256,
        "key_fingerprint": checked.fingerprint,
        "signed_digest": checked.signed_digest,
        "passed_count": len(checked.names),
        "meta": meta,
        "review_state": ReviewState.SUBMITTED.value,
        "created_at": created_at,
        **score_columns(scored),
    }
    tests = {
        "result_id": result_id,
        "count": len(checked.names),
        "names_z": ResultTests.compress(checked.names),
    }
    rows: Rows = [
        (Result.__table__, [result]),
        (ResultTests.__table__, [tests]),
        (Artefact.__table__, artefacts),
    ]
    if checked.signed_digest is None:
        idempotency = {
            "scope": scope,
            "key": key,
            "request_sha256": checked.signed_sha256,
            "result_id": result_id,
            "created_at": now,
        }
        rows.append((IdempotencyKey.__table__, [idempotency]))
    audit = {
        "at": now,
        "actor_id": checked.owner_id,
        "result_id": result_id,
        "action": "upload",
        "from_state": None,
        "to_state": result["review_state"],
        "reason": None,
        "details": {"sha256": checked.signed_sha256, "key_fingerprint": checked.fingerprint},
    }
    rows.append((AuditEvent.__table__, [audit]))
    return result, {a["kind"]: a["sha256"] for a in artefacts}, rows


def _cleanup(store: ArtefactStore, keys: Iterable[str], writing: Future[None]) -> None:
    """Remove the artefacts of a record that was not stored, once their writing is over."""
    wait([writing])
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # noqa: BLE001 - best effort; the record was not stored
            LOG.warning("could not delete artefact %s after a failed ingest", key, exc_info=True)

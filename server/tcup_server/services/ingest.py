"""Ingest one upload: validate in RefStack's order, verify, score, store, sign a receipt.

The stored record is all-or-nothing: the artefacts (exact body, subunit,
extended results, manifest) are written to the artefact store first, then the
result, its tests, artefact rows, idempotency key and audit event are inserted
in one database transaction.  If the transaction fails the artefacts are
deleted again; a crash in between leaves at most unreferenced (encrypted)
objects, never a partial record.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tcup import signing
from tcup.errors import InputError
from tcup_server.errors import ApiError, abort
from tcup_server.models import (
    Artefact,
    ArtefactKind,
    AuditEvent,
    IdempotencyKey,
    PubKey,
    Result,
    ResultTests,
    new_id,
    utcnow,
)
from tcup_server.services.guidelines import GuidelineDirectory
from tcup_server.storage import ArtefactStore

LOG = logging.getLogger(__name__)

MAX_NAME = 512
RECEIPT_FIELDS = ("test_id", "url", "sha256", "created_at", "key_fingerprint")
ANONYMOUS_DISABLED = (
    "Anonymous result uploads are disabled, please create a user account and sign your results."
)
KEY_NOT_FOUND = (
    "User with specified key not found. Please log into the RefStack server to upload your key."
)


@dataclass
class Upload:
    """What the API layer took from one request; nothing here is trusted yet."""

    body: bytes  # the exact bytes received (what was signed)
    kind: str = "json"  # json | subunit | extended
    signature: str | None = None
    public_key: str | None = None
    idempotency_key: str | None = None
    guideline: str | None = None
    target: str | None = None
    add_ons: tuple[str, ...] = ()
    cpid: str | None = None  # subunit uploads only
    duration_seconds: int = 0  # subunit uploads only
    # extended uploads: the parts, already split out of the signed body
    parts: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    test_id: str
    url: str
    sha256: str
    created_at: str
    key_fingerprint: str | None
    receipt_signature: str
    replayed: bool = False

    def body(self) -> dict[str, Any]:
        return {
            "test_id": self.test_id,
            "url": self.url,
            "sha256": self.sha256,
            "created_at": self.created_at,
            "key_fingerprint": self.key_fingerprint,
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
    receipt_key: Any  # RSA private key
    result_url: Callable[[str], str]
    allow_anonymous: bool = False
    default_guideline: str = "2020.06"
    default_target: str = "platform"
    max_tests: int = 100_000


@dataclass
class _Checked:
    """A validated upload, ready to store."""

    body: dict[str, Any]
    names: list[str]
    fingerprint: str | None
    owner_id: int | None
    artefacts: dict[str, tuple[bytes, str]]  # kind -> (bytes, content type)
    manifest: dict[str, Any] | None = None


# ---------------------------------------------------------------- validation


def _refstack_body(upload: Upload) -> dict[str, Any]:
    """The RefStack JSON of the upload: parsed (json) or built from subunit by tcup.results."""
    from tcup import results

    if upload.kind == "subunit":
        return _body_from_subunit(upload.body, upload.cpid, upload.duration_seconds)
    source = upload.parts.get("results", b"") if upload.kind == "extended" else upload.body
    if upload.kind == "extended" and not source and "subunit" in upload.parts:
        return _body_from_subunit(upload.parts["subunit"], upload.cpid, upload.duration_seconds)
    try:
        data = json.loads(source)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "Malformed request", detail="the body is not JSON") from None
    try:
        results.read_refstack(source)
    except InputError as exc:
        problems = getattr(exc, "problems", ())
        # RefStack checks the signature before refusing an empty list: keep its order.
        if not (problems and all(p.startswith("results: empty") for p in problems)):
            raise ApiError(400, "Request doesnt correspond to schema", detail=exc.message) from None
    if not isinstance(data, dict):  # read_refstack accepted it, so this cannot happen
        raise ApiError(400, "Request doesnt correspond to schema")
    return data


def _body_from_subunit(stream: bytes, cpid: str | None, duration: int) -> dict[str, Any]:
    from tcup import results

    if not cpid:
        raise ApiError(
            400, "Missing cpid", detail="a subunit upload needs the cpid query parameter"
        )
    try:
        run = results.read_subunit(stream)
    except InputError as exc:
        raise ApiError(400, "Malformed subunit stream", detail=exc.message) from None
    return results.refstack_body(run, cpid, duration)


def _check_names(body: Mapping[str, Any], max_tests: int) -> list[str]:
    items = body.get("results") or []
    if len(items) > max_tests:
        raise ApiError(413, f"Too many tests: {len(items)} (at most {max_tests})")
    names: list[str] = []
    seen: set[str] = set()
    for item in items:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            raise ApiError(
                400,
                "Request doesnt correspond to schema",
                detail=f"test names must be 1 to {MAX_NAME} characters",
            )
        if not name.isprintable():
            raise ApiError(
                400,
                "Request doesnt correspond to schema",
                detail=f"test name {name[:80]!r} contains non-printable characters",
            )
        if name in seen:
            raise ApiError(
                400, "Request doesnt correspond to schema", detail=f"duplicate test name {name!r}"
            )
        seen.add(name)
        names.append(name)
    return names


def _check_signature(upload: Upload, signed_bytes: bytes) -> str | None:
    """RefStack's order: hex decode, key parse, verify.  Returns the key fingerprint."""
    if upload.signature is None and upload.public_key is None:
        return None
    signature = (upload.signature or "").strip()
    try:
        bytes.fromhex(signature)
        if not signature:
            raise ValueError
    except ValueError:
        raise ApiError(400, "Malformed signature") from None
    try:
        signing.load_public_key(upload.public_key or "")
    except InputError as exc:
        raise ApiError(400, "Malformed public key", detail=exc.message) from None
    try:
        signing.verify(signed_bytes, signature, upload.public_key or "")
    except InputError as exc:
        raise ApiError(400, "Signature verification failed", detail=exc.message) from None
    return signing.fingerprint(upload.public_key or "")


def _owner(session: Session, fingerprint: str | None, allow_anonymous: bool) -> int | None:
    if fingerprint is None:
        if not allow_anonymous:
            raise abort(401, ANONYMOUS_DISABLED)
        return None
    key = session.scalar(
        select(PubKey).where(PubKey.fingerprint == fingerprint, PubKey.revoked_at.is_(None))
    )
    if key is None or key.user.disabled_at is not None:
        raise abort(401, KEY_NOT_FOUND)
    return key.user_id


def check(ctx: IngestContext, upload: Upload, session: Session) -> _Checked:
    """Validate ``upload`` in RefStack's order; raise ``ApiError`` on the first problem."""
    body = _refstack_body(upload)
    fingerprint = _check_signature(upload, upload.body)
    names = _check_names(body, ctx.max_tests)
    if not names:
        raise ApiError(400, "Uploaded results must contain at least one passing test.")
    owner_id = _owner(session, fingerprint, ctx.allow_anonymous)
    artefacts: dict[str, tuple[bytes, str]] = {
        ArtefactKind.UPLOAD.value: (upload.body, _content_type(upload.kind))
    }
    manifest = None
    if upload.kind == "subunit":
        artefacts[ArtefactKind.SUBUNIT.value] = (upload.body, "application/octet-stream")
    for kind, ctype in (
        ("subunit", "application/octet-stream"),
        ("extended", "application/json"),
        ("manifest", "application/json"),
    ):
        if kind in upload.parts:
            artefacts[kind] = (upload.parts[kind], ctype)
    if "manifest" in upload.parts:
        try:
            manifest = json.loads(upload.parts["manifest"])
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Malformed manifest", detail="manifest is not JSON") from None
        if not isinstance(manifest, dict):
            raise ApiError(400, "Malformed manifest", detail="manifest must be a JSON object")
    return _Checked(body, names, fingerprint, owner_id, artefacts, manifest)


def _content_type(kind: str) -> str:
    return {
        "json": "application/json",
        "subunit": "application/octet-stream",
        "extended": "multipart/form-data",
    }[kind]


# ------------------------------------------------------------------- scoring


def score_result(
    guidelines: GuidelineDirectory, guideline: str, target: str, names: list[str], add_ons=()
) -> tuple[dict[str, Any] | None, str | None]:
    """(score summary, guideline sha256) with tcup.scoring; (None, None) if it cannot be scored."""
    from tcup import scoring

    parsed = guidelines.load(guideline)
    if parsed is None:
        LOG.info("result not scored: guideline %s is not on this server", guideline)
        return None, None
    extra = []
    for name in add_ons:
        add_on = guidelines.load(name)
        if add_on is None:
            LOG.info("result not scored: add-on %s is not on this server", name)
            return None, parsed.sha256
        extra.append(add_on)
    try:
        result = scoring.score(parsed, target, dict.fromkeys(names, "passed"), add_ons=extra)
    except InputError as exc:
        LOG.info("result not scored: %s", exc.message)
        return None, parsed.sha256
    return score_summary(result), parsed.sha256


def score_summary(result: Any) -> dict[str, Any]:
    """A JSON form of a ``tcup.scoring.Score`` for storage and the results API."""
    return {
        "guideline": result.guideline_id,
        "guideline_sha256": result.guideline_sha256,
        "target": result.target,
        "add_ons": list(result.add_ons),
        "qualifies": result.qualifies,
        "verdict": "qualifies" if result.qualifies else "does not qualify",
        "missing_required": list(result.missing_required),
        "required_passed": result.required_passed,
        "required_total": result.required_total,
        "capabilities": [
            {
                "name": c.name,
                "status": c.status,
                "component": c.component,
                "outcome": c.outcome,
                "passed": c.passed_count,
                "total": c.total,
                "flagged": c.flagged_count,
                "failed_tests": [t.name for t in c.failed_tests],
            }
            for c in result.capabilities
        ],
    }


# ------------------------------------------------------------------ storing


def _receipt(ctx: IngestContext, row: Result, replayed: bool = False) -> Receipt:
    fields = {
        "test_id": row.id,
        "url": ctx.result_url(row.id),
        "sha256": row.upload_sha256,
        "created_at": row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "key_fingerprint": row.key_fingerprint,
    }
    signature = signing.sign(receipt_payload(fields), ctx.receipt_key)
    return Receipt(**fields, receipt_signature=signature, replayed=replayed)


def _replay(
    ctx: IngestContext, session: Session, scope: str, key: str, request_sha: str
) -> Receipt | None:
    row = session.get(IdempotencyKey, (scope, key))
    if row is None:
        return None
    if row.request_sha256 != request_sha:
        raise ApiError(
            422,
            "Idempotency-Key reused with a different body",
            detail=f"key {key!r} was first used for another upload; use a new key",
        )
    result = session.get(Result, row.result_id)
    if result is None:  # the result was deleted since: treat as a new upload
        session.delete(row)
        session.flush()
        return None
    return _receipt(ctx, result, replayed=True)


def ingest(ctx: IngestContext, upload: Upload) -> Receipt:
    """Validate, score and store one upload; return its signed receipt."""
    request_sha = hashlib.sha256(upload.body).hexdigest()
    with ctx.sessions() as session:
        checked = check(ctx, upload, session)
        scope = checked.fingerprint or "anonymous"
        key = upload.idempotency_key or request_sha
        replay = _replay(ctx, session, scope, key, request_sha)
        if replay is not None:
            session.commit()
            return replay
        session.rollback()

    meta_guideline = upload.guideline or (checked.manifest or {}).get("guideline")
    guideline = str(meta_guideline or ctx.default_guideline)
    target = str(upload.target or (checked.manifest or {}).get("target") or ctx.default_target)
    add_ons = tuple(upload.add_ons or (checked.manifest or {}).get("add_ons") or ())
    summary, guideline_sha = score_result(ctx.guidelines, guideline, target, checked.names, add_ons)

    result_id = new_id()
    stored: list[str] = []
    rows: list[Artefact] = []
    try:
        for kind, (data, ctype) in checked.artefacts.items():
            storage_key = f"results/{result_id[:2]}/{result_id}/{kind}"
            ctx.store.put(storage_key, data)
            stored.append(storage_key)
            rows.append(
                Artefact(
                    kind=kind,
                    storage_key=storage_key,
                    sha256=hashlib.sha256(data).hexdigest(),
                    size=len(data),
                    content_type=ctype,
                )
            )
        meta: dict[str, Any] = {"guideline": guideline, "target": target}
        if upload.add_ons:
            meta["add_ons"] = ",".join(add_ons)
        row = Result(
            id=result_id,
            owner_id=checked.owner_id,
            cpid=str(checked.body["cpid"]),
            duration_seconds=int(checked.body["duration_seconds"]),
            guideline=guideline,
            guideline_sha256=guideline_sha,
            target=target,
            add_ons=list(add_ons),
            upload_sha256=request_sha,
            key_fingerprint=checked.fingerprint,
            passed_count=len(checked.names),
            score=summary,
            qualifies=summary["qualifies"] if summary else None,
            meta=meta,
            created_at=utcnow().replace(microsecond=0),
        )
        row.tests = ResultTests.pack(checked.names)
        row.artefacts = rows
        with ctx.sessions() as session, session.begin():
            session.add(row)
            session.flush()  # the result row first: the idempotency key refers to it
            session.add(
                IdempotencyKey(
                    scope=scope, key=key, request_sha256=request_sha, result_id=result_id
                )
            )
            session.add(
                AuditEvent(
                    actor_id=checked.owner_id,
                    result_id=result_id,
                    action="upload",
                    to_state=row.review_state or "submitted",
                    details={"sha256": request_sha, "key_fingerprint": checked.fingerprint},
                )
            )
    except IntegrityError:
        _cleanup(ctx.store, stored)
        # A concurrent request with the same idempotency key won the race.
        with ctx.sessions() as session:
            replay = _replay(ctx, session, scope, key, request_sha)
            if replay is not None:
                return replay
        raise
    except BaseException:
        _cleanup(ctx.store, stored)
        raise
    LOG.info("stored result %s (%d tests, owner %s)", result_id, len(checked.names), scope)
    return _receipt(ctx, row)


def _cleanup(store: ArtefactStore, keys: list[str]) -> None:
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # noqa: BLE001 - best effort; the record was not stored
            LOG.warning("could not delete artefact %s after a failed ingest", key, exc_info=True)

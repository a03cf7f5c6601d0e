"""``/v1/results``: uploads (RefStack JSON or subunit), list and detail, as RefStack answers."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from tcup_server.api.guard import PARSED_BODY, upload_kind
from tcup_server.auth import current_user, db_session
from tcup_server.errors import ApiError
from tcup_server.models import AuditEvent, ProductVersion, Result, ReviewState, User
from tcup_server.services import access, listing
from tcup_server.services.ingest import (
    MAX_DURATION,
    MAX_NAME_LENGTH,
    QUERY_METADATA,
    IngestRefused,
    Upload,
    ingest,
)
from tcup_server.state import get_state

router = APIRouter(prefix="/v1/results", tags=["results"])

SUBUNIT_TYPES = {"application/octet-stream", "application/vnd.subunit", "application/x-subunit"}
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_CPID_LENGTH = 128  # the column, as RefStack's

UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["cpid", "duration_seconds", "results"],
                    "additionalProperties": False,
                    "properties": {
                        "cpid": {"type": "string"},
                        "duration_seconds": {"type": "integer"},
                        "results": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "uuid": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "parameters": [
        {"name": n, "in": "header", "required": False, "schema": {"type": "string"}}
        for n in ("X-Signature", "X-Public-Key", "Idempotency-Key")
    ]
    + [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
        for n in ("guideline", "target", "add_on", "cpid", "duration_seconds")
    ],
}


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it exceeds the configured limit."""
    limit = get_state(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request body too large (limit {limit} bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"Request body too large (limit {limit} bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _int_param(value: str | None, name: str, limit: int | None = None) -> int:
    if value is None or value == "":
        return 0
    if len(value) > 20:
        raise ApiError(400, f"Invalid {name}: must be an integer of at most 20 digits")
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f"Invalid {name}: must be an integer") from None
    if number < 0:
        raise ApiError(400, f"Invalid {name}: must not be negative")
    if limit is not None and number > limit:
        raise ApiError(400, f"Invalid {name}: must be at most {limit}")
    return number


def _name_param(value: str | None, name: str, limit: int = MAX_NAME_LENGTH) -> str | None:
    """A name (guideline, target, add-on, cpid) from the query: short printable text or nothing."""
    if value is None or value == "":
        return None
    if len(value) > limit or not value.isprintable():
        raise ApiError(400, f"Invalid {name}: at most {limit} printable characters")
    return value


def upload_from_request(request: Request, body: bytes, kind: str | None = None) -> Upload:
    q = request.query_params
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    add_ons = tuple(
        _name_param(a.strip(), "add_on") or "" for v in q.getlist("add_on") for a in v.split(",")
    )
    return Upload(
        body=body,
        kind=kind or ("subunit" if ctype in SUBUNIT_TYPES else "json"),
        signature=request.headers.get("x-signature"),
        public_key=request.headers.get("x-public-key"),
        idempotency_key=(request.headers.get("idempotency-key") or "").strip()[:255] or None,
        query_metadata=tuple(n for n in QUERY_METADATA if n in q),
        guideline=_name_param(q.get("guideline"), "guideline"),
        target=_name_param(q.get("target"), "target"),
        add_ons=tuple(a for a in add_ons if a),
        cpid=_name_param(q.get("cpid"), "cpid", MAX_CPID_LENGTH),
        duration_seconds=_int_param(q.get("duration_seconds"), "duration_seconds", MAX_DURATION),
    )


@contextmanager
def refusals_counted(request: Request) -> Iterator[None]:
    """Count an upload the route refuses (``tcup_uploads_refused_total``), then let it go on."""
    try:
        yield
    except ApiError as exc:
        kind = upload_kind(request.url.path, request.headers.get("content-type", ""))
        get_state(request).metrics.upload_refused(kind, exc.code, exc.title)
        raise
    except Exception:
        kind = upload_kind(request.url.path, request.headers.get("content-type", ""))
        get_state(request).metrics.upload_refused(kind, 500, "Internal error")
        raise


async def store_upload(request: Request, upload: Upload) -> JSONResponse:
    """Ingest ``upload``: 201 with the receipt, also for a replay (``Idempotent-Replayed``)."""
    metrics = get_state(request).metrics
    started = time.perf_counter()
    try:
        receipt = await run_in_threadpool(ingest, get_state(request).ingest, upload)
    except IngestRefused as exc:
        metrics.ingest_observed(upload.kind, "refused", time.perf_counter() - started)
        raise ApiError(exc.status, exc.title, detail=exc.detail) from None
    except Exception:
        metrics.ingest_observed(upload.kind, "error", time.perf_counter() - started)
        raise
    outcome = "replayed" if receipt.replayed else "stored"
    metrics.ingest_observed(upload.kind, outcome, time.perf_counter() - started)
    metrics.upload_accepted(upload.kind, receipt.replayed)
    headers = {"Location": f"/v1/results/{receipt.test_id}"}
    if receipt.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(receipt.body(), status_code=201, headers=headers)


@router.post("", status_code=201, openapi_extra=UPLOAD_DOC, summary="Upload test results")
@router.post("/", status_code=201, openapi_extra=UPLOAD_DOC, include_in_schema=False)
async def upload_results(request: Request) -> JSONResponse:
    """RefStack's upload: the JSON body refstack-client sends (or a subunit stream)."""
    with refusals_counted(request):
        body = await read_body(request)
        upload = upload_from_request(request, body)
        parsed = request.scope.get(PARSED_BODY)
        if upload.kind == "json" and parsed is not None and parsed[0] == body:
            upload.document = parsed[1]  # the input guard's parse of these very bytes
        return await store_upload(request, upload)


# ------------------------------------------------------------------ reading


def get_visible(db: DbSession, user: User | None, result_id: str) -> Result:
    """The result, or RefStack's 404 for an unknown *or hidden* id (never 403).

    Who sees what is :func:`tcup_server.services.access.can_see`, as on the pages.
    """
    row = db.get(Result, result_id) if len(result_id) <= 36 else None
    if row is None or not access.can_see(user, row):
        raise ApiError(404, f"Test result {result_id} not found")
    return row


def _verification_status(row: Result) -> int:
    return 1 if row.review_state == ReviewState.VERIFIED.value else 0


def _product_version(row: Result) -> dict[str, Any] | None:
    pv: ProductVersion | None = row.product_version
    if pv is None:
        return None
    product = pv.product
    return {
        "id": pv.id,
        "version": pv.version,
        "cpid": pv.cpid,
        "product_info": {
            "id": product.id,
            "name": product.name,
            "product_type": product.product_type,
        },
    }


# what list_item reads of each row, loaded for the whole page in one query each
LIST_OPTIONS = (selectinload(Result.product_version).selectinload(ProductVersion.product),)


def list_item(request: Request, row: Result) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": row.created_at.strftime(DATE_FORMAT),
        "duration_seconds": row.duration_seconds,
        "verification_status": _verification_status(row),
        "meta": row.meta or {},
        "product_version": _product_version(row),
        "url": get_state(request).result_url(row.id),
        "review_state": row.review_state,
        "qualifies": row.qualifies,
    }


def _date(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, DATE_FORMAT)
    except ValueError:
        raise ApiError(400, f"Invalid {name}: expected format {DATE_FORMAT}") from None


@router.get("", summary="List the results the caller may see")
@router.get("/", include_in_schema=False)
def list_results(
    request: Request,
    page: str = Query("1"),
    start_date: str | None = None,
    end_date: str | None = None,
    cpid: str | None = None,
    verification_status: str | None = None,
    product_id: str | None = None,
    signed: str | None = None,
    user: User | None = Depends(current_user),
    db: DbSession = Depends(db_session),
) -> dict[str, Any]:
    try:
        page_no = int(page)
    except ValueError:
        raise ApiError(400, "Invalid page number: must be an integer") from None
    if page_no <= 0:
        raise ApiError(400, "Invalid page number: must be positive")
    where = [access.visible_filter(user)]
    if signed is not None:
        if user is None:
            raise ApiError(400, "To see signed test results you need to authenticate")
        where = [Result.owner_id == user.id]
    if (start := _date(start_date, "start_date")) is not None:
        where.append(Result.created_at >= start)
    if (end := _date(end_date, "end_date")) is not None:
        where.append(Result.created_at <= end)
    if cpid:
        where.append(Result.cpid == cpid)
    if verification_status not in (None, ""):
        wanted = _int_param(verification_status, "verification_status")
        verified = Result.review_state == ReviewState.VERIFIED.value
        where.append(verified if wanted == 1 else ~verified)
    if product_id:
        where.append(
            Result.product_version_id.in_(
                select(ProductVersion.id).where(ProductVersion.product_id == product_id)
            )
        )
    per_page = get_state(request).settings.results_per_page
    total = listing.count(db, where)
    pages = math.ceil(total / per_page)
    if page_no > 1 and page_no > pages:
        raise ApiError(400, f"Page number {page_no} is out of range (1-{max(pages, 1)})")
    rows = listing.page_of(db, where, page_no, per_page, total, options=LIST_OPTIONS)
    return {
        "results": [list_item(request, r) for r in rows],
        "pagination": {"current_page": page_no, "total_pages": pages},
    }


UPLOAD_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    **UPLOAD_DOC["requestBody"]["content"]["application/json"]["schema"],
}


@router.get("/schema", summary="The JSON schema of an upload body (RefStack's)")
def upload_schema() -> dict[str, Any]:
    """What ``POST /v1/results`` accepts, as RefStack serves it from ``/v1/results/schema``."""
    return UPLOAD_SCHEMA


def _role(user: User | None, row: Result) -> str:
    if access.is_staff(user):
        return "foundation"
    if access.can_see_private(user, row):
        return "owner"
    return "user"


@router.get("/{result_id}", summary="One result with its score")
def get_result(
    request: Request,
    result_id: str,
    user: User | None = Depends(current_user),
    db: DbSession = Depends(db_session),
) -> dict[str, Any]:
    row = get_visible(db, user, result_id)
    role = _role(user, row)
    body = list_item(request, row)
    del body["url"]
    body.update(
        results=row.tests.names() if row.tests else [],
        user_role=role,
        guideline=row.guideline,
        target=row.target,
        add_ons=row.add_ons or [],
        sha256=row.upload_sha256,
        score=row.score,
        capabilities=(row.score or {}).get("capabilities"),
        verdict=row.verdict or "not scored",
        programmes=(row.score or {}).get("programmes") or [],
        score_basis=row.score_basis,
        published_at=row.published_at.strftime(DATE_FORMAT) if row.published_at else None,
    )
    if role in ("owner", "foundation"):
        body["cpid"] = row.cpid
        body["key_fingerprint"] = row.key_fingerprint
    return body


@router.delete("/{result_id}", status_code=204, summary="Delete an unverified result (uploader)")
def delete_result(
    request: Request,
    result_id: str,
    user: User | None = Depends(current_user),
    db: DbSession = Depends(db_session),
) -> Response:
    row = get_visible(db, user, result_id)
    access.check_delete(user, row)
    keys = [a.storage_key for a in row.artefacts]
    db.add(
        AuditEvent(actor_id=user.id, result_id=row.id, action="delete", from_state=row.review_state)
    )
    db.delete(row)
    db.commit()
    store = get_state(request).store
    for key in keys:
        store.delete(key)
    return Response(status_code=204)

"""RefStack's result metadata and update endpoints.

* ``GET /v1/results/{id}/meta`` — owner and staff see every key (with ``user``,
  the uploader's openid); anyone else who may see the result only the
  writable keys.
* ``GET|POST|DELETE /v1/results/{id}/meta/{key}`` — the writable keys are
  ``shared``, ``guideline`` and ``target``; POST takes the raw value as body
  (201), DELETE answers 204; owner or staff only, and never once verified.
  Changing ``guideline`` or ``target`` scores the result again.
* ``PUT /v1/results/{id}`` — ``product_version_id`` (owner or staff; only a
  version of the uploader's vendor) and ``verification_status`` 0/1 (staff
  only; verifying a result that does not qualify also needs
  ``"confirm_not_qualifying": true``), answered with the result.

Who may do what is :mod:`tcup_server.services.access`.  As everywhere, a
result the caller may not see is answered 404, not 401.
``shared`` is kept as RefStack metadata but does not make a result public:
only publishing a verified result does (see ``services/publishing.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session as DbSession

from tcup_server.api.results import get_result, get_visible
from tcup_server.auth import current_user, db_session
from tcup_server.errors import ApiError, abort
from tcup_server.models import ArtefactKind, Result, ReviewState, User
from tcup_server.services import access, ingest, publishing, review
from tcup_server.state import get_state

LOG = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/results", tags=["results"])

WRITABLE = ("shared", "guideline", "target")
MAX_VALUE = 1024
VERIFIED = ReviewState.VERIFIED.value
API_REASON = "through the RefStack API (PUT /v1/results/{id})"


def _meta_view(user: User | None, row: Result) -> dict[str, Any]:
    meta = dict(row.meta or {})
    if access.can_see_private(user, row):
        if row.owner is not None:
            meta["user"] = row.owner.openid
        return meta
    return {k: v for k, v in meta.items() if k in WRITABLE}


def _writable(user: User | None, row: Result, key: str) -> None:
    """Refuse a metadata change the caller may not make (RefStack's 403s)."""
    access.check_change(user, row)
    if key not in WRITABLE:
        raise abort(403, f"Metadata key '{key}' is not writable (writable: {', '.join(WRITABLE)}).")


def _rescore(request: Request, row: Result) -> None:
    """Score ``row`` again against its (possibly changed) guideline and target."""
    state = get_state(request)
    meta = row.meta or {}
    row.guideline = str(meta.get("guideline") or state.settings.default_guideline)
    row.target = str(meta.get("target") or state.settings.default_target)
    ingest.rescore(state.ingest, row)


def _check_scoring_change(request: Request, row: Result, key: str, value: str | None) -> None:
    """A run's manifest fixes guideline and target; other names must be the server's."""
    if key not in ("guideline", "target"):
        return
    if any(a.kind == ArtefactKind.MANIFEST.value for a in row.artefacts):
        raise abort(
            403,
            f"The {key} of this result comes from the run's manifest and cannot be changed.",
        )
    if value is None:
        return
    state = get_state(request)
    meta = row.meta or {}
    guideline = value if key == "guideline" else str(meta.get("guideline") or "")
    target = value if key == "target" else str(meta.get("target") or "")
    try:
        ingest.check_metadata(
            state.guidelines,
            guideline or state.settings.default_guideline,
            target or state.settings.default_target,
            tuple(row.add_ons or ()),
        )
    except ingest.IngestRefused as exc:
        raise ApiError(exc.status, exc.title, detail=exc.detail) from None


@router.get("/{result_id}/meta", summary="Metadata of a result")
def get_meta(
    result_id: str,
    user: User | None = Depends(current_user),
    db: DbSession = Depends(db_session),
) -> dict[str, Any]:
    return _meta_view(user, get_visible(db, user, result_id))


@router.get("/{result_id}/meta/{key}", summary="One metadata value of a result")
def get_meta_item(
    result_id: str,
    key: str,
    user: User | None = Depends(current_user),
    db: DbSession = Depends(db_session),
) -> Any:
    meta = _meta_view(user, get_visible(db, user, result_id))
    if key not in meta:
        raise ApiError(404, f"Metadata key {key} not found for test result {result_id}")
    return meta[key]


@router.post(
    "/{result_id}/meta/{key}",
    status_code=201,
    summary="Set a writable metadata key (raw value as body)",
    openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def set_meta_item(
    request: Request,
    result_id: str,
    key: str,
    user: User | None = Depends(current_user),
    db: DbSession = Depends(db_session),
) -> Response:
    raw = await request.body()
    if len(raw) > MAX_VALUE:
        raise ApiError(400, f"Metadata value too long (at most {MAX_VALUE} bytes)")
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ApiError(400, "Metadata value must be UTF-8 text") from None
    if not value or not value.isprintable():
        raise ApiError(400, "Metadata value must be non-empty printable text")
    row = get_visible(db, user, result_id)
    _writable(user, row, key)
    _check_scoring_change(request, row, key, value)
    before = (row.meta or {}).get(key)
    row.meta = {**(row.meta or {}), key: value}
    if key in ("guideline", "target"):
        _rescore(request, row)
    review.record(db, user, row.id, "meta", details={"key": key, "from": before, "to": value})
    db.commit()
    return Response(status_code=201)


@router.delete("/{result_id}/meta/{key}", status_code=204, summary="Remove a metadata key")
def delete_meta_item(
    request: Request,
    result_id: str,
    key: str,
    user: User | None = Depends(current_user),
    db: DbSession = Depends(db_session),
) -> Response:
    row = get_visible(db, user, result_id)
    _writable(user, row, key)
    _check_scoring_change(request, row, key, None)
    meta = dict(row.meta or {})
    if key not in meta:
        raise ApiError(404, f"Metadata key {key} not found for test result {result_id}")
    before = meta.pop(key)
    row.meta = meta
    if key in ("guideline", "target"):
        _rescore(request, row)
    review.record(db, user, row.id, "meta", details={"key": key, "from": before, "to": None})
    db.commit()
    return Response(status_code=204)


def _set_product_version(db: DbSession, user: User, row: Result, version_id: Any) -> None:
    if version_id is not None and not isinstance(version_id, str):
        raise ApiError(400, "product_version_id must be a string or null")
    publishing.link_version(db, user, row, version_id or None)


def _set_verification(
    db: DbSession, user: User, row: Result, status: Any, confirm_not_qualifying: Any
) -> None:
    access.check_review(user)
    if status not in (0, 1) or isinstance(status, bool):
        raise ApiError(400, "verification_status must be 0 or 1")
    if not isinstance(confirm_not_qualifying, bool):
        raise ApiError(400, "confirm_not_qualifying must be true or false")
    if status == 1 and row.review_state != VERIFIED:
        missing = [k for k in ("guideline", "target") if not (row.meta or {}).get(k)]
        if missing:
            raise ApiError(
                400, f"Set the metadata {', '.join(missing)} before verifying this test run"
            )
        if row.review_state != review.IN_REVIEW:
            review.move(db, row, user, review.IN_REVIEW, f"reopened for verification {API_REASON}")
        review.move(db, row, user, VERIFIED, confirm_not_qualifying=confirm_not_qualifying)
    elif status == 0 and row.review_state == VERIFIED:
        review.move(db, row, user, review.IN_REVIEW, f"verification withdrawn {API_REASON}")


UPDATABLE = ("product_version_id", "verification_status", "confirm_not_qualifying")


@router.put("/{result_id}", summary="Update a result: product_version_id, verification_status")
def update_result(
    request: Request,
    result_id: str,
    changes: dict[str, Any] = Body(
        ...,
        examples=[{"verification_status": 1}, {"product_version_id": None}],
        description="verification_status (staff; 1 verifies, 0 withdraws the verification); "
        "confirm_not_qualifying: true to verify a result that does not qualify; "
        "product_version_id (the owner or staff; a version of the uploader's vendor, or null)",
    ),
    user: User | None = Depends(current_user),
    db: DbSession = Depends(db_session),
) -> JSONResponse:
    """A service's refusal goes up to the app, which answers it; nothing is committed then."""
    row = get_visible(db, user, result_id)
    if user is None:
        raise abort(403, "Only the owner or staff may update a result.")
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ApiError(400, f"Unknown field(s): {', '.join(sorted(unknown))}")
    if "product_version_id" in changes:
        _set_product_version(db, user, row, changes["product_version_id"])
    if "verification_status" in changes:
        _set_verification(
            db,
            user,
            row,
            changes["verification_status"],
            changes.get("confirm_not_qualifying", False),
        )
    db.commit()
    return JSONResponse(get_result(request, result_id, user, db))

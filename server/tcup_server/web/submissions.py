"""Submissions: the filtered list, one submission's page, review, linking, publishing.

The page of a submission lives at ``/results/<id>``, the URL the upload
receipt names.  Who sees what is :mod:`tcup_server.services.access`, exactly
as for ``/v1/results/<id>``: staff see every submission, failure details and
raw artefacts; the owner side (uploader, colleagues at the linked vendor) its
private facts; other members only published ones, without private facts.
Any other id is a 404, as an unknown one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import Response
from sqlalchemy import select

from tcup.errors import InputError
from tcup_server.models import ArtefactKind, PubKey, Result, User
from tcup_server.services import access, publishing, review
from tcup_server.state import get_state
from tcup_server.web.common import (
    Caller,
    Flash,
    PageError,
    WebRoute,
    csrf_signed_in,
    not_found,
    post_or_refuse,
    render,
    signed_in,
)

LOG = logging.getLogger(__name__)
router = APIRouter(route_class=WebRoute)

STATUS_ORDER = ("required", "advisory", "deprecated", "removed")
ARTEFACT_NAMES = {
    ArtefactKind.UPLOAD.value: "results.json",
    ArtefactKind.SUBUNIT.value: "results.subunit",
    ArtefactKind.EXTENDED.value: "results-extended.json",
    ArtefactKind.MANIFEST.value: "manifest.json",
}


def _date(value: str, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PageError(400, "Bad filter", f"{name} must be a date (YYYY-MM-DD).") from None


@router.get("/results", name="web_submissions")
def submissions(
    guideline: str = "",
    target: str = "",
    verdict: str = "",
    state: str = "",
    vendor: str = "",
    date_from: str = Query("", alias="from"),
    date_to: str = Query("", alias="to"),
    page: int = Query(1, ge=1, le=1_000_000),
    who: Caller = Depends(signed_in),
) -> Response:
    filters = review.Filters(
        guideline=guideline.strip(),
        target=target.strip(),
        verdict=verdict if verdict in {"qualifies", "fails"} else "",
        state=state if state in review.STATE_LABELS else "",
        vendor=vendor.strip(),
        date_from=_date(date_from, "from"),
        date_to=_date(date_to, "to"),
    )
    listing = review.list_results(who.db, who.user, filters, page, who.settings.results_per_page)
    query = {
        "guideline": filters.guideline,
        "target": filters.target,
        "verdict": filters.verdict,
        "state": filters.state,
        "vendor": filters.vendor,
        "from": date_from,
        "to": date_to,
    }
    return render(
        who,
        "results.html",
        title="Submissions",
        nav="submissions",
        listing=listing,
        choices=review.filter_choices(who.db, who.user),
        query={k: v for k, v in query.items() if v},
        labels=review.STATE_LABELS,
    )


# ---------------------------------------------------------------- one submission


@dataclass
class TestRow:
    name: str
    status: str  # failed | skipped | not run | not passed
    detail: str = ""


@dataclass
class CapabilityRow:
    name: str
    status: str
    outcome: str
    passed: int
    total: int
    flagged: int
    failing: list[TestRow] = field(default_factory=list)


@dataclass
class ProgrammeRow:
    """One programme's verdict as stored at ingest: the target's, or an add-on's."""

    name: str  # "OpenStack Powered Platform", "OpenStack Powered DNS add-on"
    kind: str  # "platform" | "add-on"
    guideline: str  # "2020.06", "dns.2020.06"
    qualifies: bool
    verdict: str  # the programme's line
    passed: int  # required capabilities passed
    total: int


def programme_rows(score: dict[str, Any] | None) -> list[ProgrammeRow]:
    """The per-programme verdicts stored at ingest; none for a score stored before them."""
    rows = []
    for item in (score or {}).get("programmes") or []:
        required = item.get("required_capabilities") or {}
        rows.append(
            ProgrammeRow(
                name=str(item.get("name", "")),
                kind=str(item.get("kind", "")),
                guideline=str(item.get("guideline", "")),
                qualifies=item.get("qualifies") is True,
                verdict=str(item.get("verdict", "")),
                passed=int(required.get("passed", 0)),
                total=int(required.get("total", 0)),
            )
        )
    return rows


def capability_rows(score: dict[str, Any] | None, details: dict[str, Any]) -> list[CapabilityRow]:
    """The score stored at ingest, as table rows, required first.

    Outcomes and test states are the stored ones; ``details`` (staff only, from
    the extended results) adds each failure's text and nothing else.
    """
    rows = []
    for cap in (score or {}).get("capabilities") or []:
        states = cap.get("tests") or {}
        failing = []
        for name in cap.get("failed_tests") or []:
            state = (states.get(name) or {}).get("state", "not passed")
            found = details.get(name)
            failing.append(TestRow(name, state, _detail_text(found) if found else ""))
        rows.append(
            CapabilityRow(
                name=cap.get("name", ""),
                status=cap.get("status", ""),
                outcome=cap.get("outcome", ""),
                passed=int(cap.get("passed", 0)),
                total=int(cap.get("total", 0)),
                flagged=int(cap.get("flagged", 0)),
                failing=failing,
            )
        )
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    rows.sort(key=lambda r: (order.get(r.status, len(order)), r.name))
    return rows


def _detail_text(test: Any) -> str:
    parts = []
    if getattr(test, "reason", None):
        parts.append(str(test.reason))
    for key, value in (getattr(test, "details", None) or {}).items():
        if value:
            parts.append(f"{key}:\n{value}")
    return "\n\n".join(parts)[:20000]


def _artefact(who: Caller, result: Result, kind: str) -> bytes | None:
    row = next((a for a in result.artefacts if a.kind == kind), None)
    if row is None:
        return None
    try:
        return get_state(who.request).store.get(row.storage_key)
    except Exception:  # noqa: BLE001 - a missing artefact must not break the page
        LOG.warning("artefact %s of result %s unreadable", kind, result.id, exc_info=True)
        return None


def failure_details(who: Caller, result: Result) -> dict[str, Any]:
    """Test name -> TestResult for tests that did not pass, from results-extended.json."""
    data = _artefact(who, result, ArtefactKind.EXTENDED.value)
    if data is None:
        return {}
    from tcup import results as formats

    try:
        extended = formats.read_extended(data, f"results-extended.json of {result.id}")
    except InputError:
        LOG.warning("result %s: stored extended results unreadable", result.id)
        return {}
    return {t.name: t for t in extended.results.tests if t.status != "passed"}


def manifest_facts(who: Caller, result: Result) -> list[tuple[str, str]]:
    """Flattened manifest.json (tool versions, guideline sha256 ...), when it was uploaded."""
    data = _artefact(who, result, ArtefactKind.MANIFEST.value)
    if data is None:
        return []
    try:
        manifest = json.loads(data)
    except ValueError:
        return [("manifest", "unreadable")]
    facts: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            facts.append((prefix, ", ".join(str(v) for v in value)))
        elif value is not None:
            facts.append((prefix, str(value)))

    walk("", manifest)
    return facts[:200]


def signing_key(who: Caller, result: Result) -> dict[str, Any] | None:
    if not result.key_fingerprint:
        return None
    key = who.db.scalar(select(PubKey).where(PubKey.fingerprint == result.key_fingerprint))
    return {
        "fingerprint": result.key_fingerprint,
        "owner": key.user.name if key else "unknown key",
        "comment": key.comment if key else None,
        "revoked": bool(key and key.revoked_at),
    }


@router.get("/results/{result_id}", name="web_submission")
def submission(result_id: str, who: Caller = Depends(signed_in)) -> Response:
    return show(who, review.get_result(who.db, who.user, result_id))


def show(
    who: Caller, result: Result, status: int = 200, flashes: list[Flash] | None = None
) -> Response:
    user: User = who.user
    staff = access.can_see_failures(user)
    private = access.can_see_private(user, result)
    previous = review.previous_result(who.db, user, result) if private else None
    state = result.review_state
    audit = review.audit_trail(who.db, result.id) if private else []
    return render(
        who,
        "result.html",
        title=f"Submission {result.id[:8]}",
        nav="submissions",
        status=status,
        flashes=flashes,
        result=result,
        staff=staff,
        private=private,
        qualifies=review.qualifies(result),
        state_label=review.STATE_LABELS.get(state, state),
        next_states=sorted(review.TRANSITIONS.get(state, ())),
        labels=review.STATE_LABELS,
        reason_required={s: review.reason_required(state, s) for s in review.TRANSITIONS},
        programmes=programme_rows(result.score),
        capabilities=capability_rows(result.score, failure_details(who, result) if staff else {}),
        manifest=manifest_facts(who, result) if private else [],
        key=signing_key(who, result) if private else None,
        diff=review.capability_diff(previous, result) if previous else None,
        audit=audit,
        actors=_actor_names(who, audit),
        owner=access.is_owner(user, result),
        versions=publishing.versions_for(who.db, user, result),
        can_publish=publishing.can_publish(user, result),
        artefacts=[(a, ARTEFACT_NAMES.get(a.kind, a.kind)) for a in result.artefacts]
        if staff
        else [],
    )


def _actor_names(who: Caller, events: list[Any]) -> dict[int, str]:
    ids = {e.actor_id for e in events if e.actor_id is not None}
    if not ids:
        return {}
    return {u.id: u.name for u in who.db.scalars(select(User).where(User.id.in_(ids)))}


def _act(who: Caller, result_id: str, action, done: str) -> Response:  # noqa: ANN001
    """Run ``action(result)``; on a refusal show the page again with the reason (400)."""
    result = review.get_result(who.db, who.user, result_id)

    def run() -> str:
        action(result)
        return f"/results/{result_id}"

    def reshow(status: int, flashes: list[Flash]) -> Response:
        return show(who, review.get_result(who.db, who.user, result_id), status, flashes)

    return post_or_refuse(who, run, done, reshow)


@router.post("/results/{result_id}/review", name="web_review")
def review_action(
    result_id: str,
    to_state: str = Form(""),
    reason: str = Form(""),
    confirm_not_qualifying: str = Form(""),
    who: Caller = Depends(csrf_signed_in),
) -> Response:
    review.get_result(who.db, who.user, result_id)  # one the caller may not see: 404, not 403
    access.check_review(who.user)
    done = {
        review.IN_REVIEW: "review_started",
        review.VERIFIED: "verified",
        review.REJECTED: "rejected",
    }.get(to_state, "")

    def act(result: Result) -> None:
        if (
            result.review_state in {review.VERIFIED, review.REJECTED}
            and to_state == review.IN_REVIEW
        ):
            nonlocal done
            done = "reopened"
        review.move(
            who.db,
            result,
            who.user,
            to_state,
            reason,
            confirm_not_qualifying=confirm_not_qualifying == "yes",
        )

    return _act(who, result_id, act, done)


@router.post("/results/{result_id}/link", name="web_link")
def link_action(
    result_id: str, version_id: str = Form(""), who: Caller = Depends(csrf_signed_in)
) -> Response:
    return _act(
        who,
        result_id,
        lambda r: publishing.link_version(who.db, who.user, r, version_id),
        "linked",
    )


@router.post("/results/{result_id}/publish", name="web_publish")
def publish_action(result_id: str, who: Caller = Depends(csrf_signed_in)) -> Response:
    return _act(who, result_id, lambda r: publishing.publish(who.db, who.user, r), "published")


@router.post("/results/{result_id}/unpublish", name="web_unpublish")
def unpublish_action(result_id: str, who: Caller = Depends(csrf_signed_in)) -> Response:
    return _act(who, result_id, lambda r: publishing.unpublish(who.db, who.user, r), "unpublished")


@router.get("/results/{result_id}/artefacts/{kind}", name="web_artefact")
def artefact(result_id: str, kind: str, who: Caller = Depends(signed_in)) -> Response:
    """A raw artefact as it was uploaded (staff only)."""
    result = review.get_result(who.db, who.user, result_id)
    if not access.can_see_failures(who.user):
        raise PageError(403, "Not allowed", "Raw artefacts are for staff only.")
    data = _artefact(who, result, kind)
    if data is None:
        raise not_found("artefact")
    row = next(a for a in result.artefacts if a.kind == kind)
    filename = f"{result.id}-{ARTEFACT_NAMES.get(kind, kind)}"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-SHA256": row.sha256,
        },
    )

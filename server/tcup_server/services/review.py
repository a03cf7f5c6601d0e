"""Staff review of submissions: who may see what, the review workflow, the audit log.

Workflow (only staff move a submission)::

    submitted -> in_review -> verified
                           -> rejected   (a reason is required)
    verified | rejected -> in_review     (reopen; a reason is required)

Every move appends an :class:`~tcup_server.models.AuditEvent` (who, when,
from, to, why); nothing here updates or deletes one.  Reopening a published
submission withdraws it from the public page.

Who may see or move what is decided by :mod:`tcup_server.services.access`;
this module lists, moves and audits.  Verifying a submission that does not
qualify needs an explicit confirmation, which the audit event records.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import selectinload

from tcup_server.models import (
    AuditEvent,
    Organization,
    OrganizationMember,
    Product,
    ProductVersion,
    Result,
    ReviewState,
    User,
    utcnow,
)
from tcup_server.services import access, listing
from tcup_server.services.errors import Conflict, InvalidInput

LOG = logging.getLogger(__name__)

SUBMITTED = ReviewState.SUBMITTED.value
IN_REVIEW = ReviewState.IN_REVIEW.value
VERIFIED = ReviewState.VERIFIED.value
REJECTED = ReviewState.REJECTED.value

STATE_LABELS = {
    SUBMITTED: "submitted",
    IN_REVIEW: "in review",
    VERIFIED: "verified",
    REJECTED: "rejected",
}

TRANSITIONS: dict[str, frozenset[str]] = {
    SUBMITTED: frozenset({IN_REVIEW}),
    IN_REVIEW: frozenset({VERIFIED, REJECTED}),
    VERIFIED: frozenset({IN_REVIEW}),
    REJECTED: frozenset({IN_REVIEW}),
}
MAX_REASON = 2000


def reason_required(from_state: str, to_state: str) -> bool:
    return to_state == REJECTED or from_state in {VERIFIED, REJECTED}


def qualifies(result: Result) -> bool:
    """Whether ``result`` qualifies for the guideline and target it claims.

    The one place that answers it, for verifying and publishing.  Today it
    reads the score stored at ingest (or at the last change of guideline or
    target): its verdict, and that it was computed for the result's own
    guideline (and the same guideline file).  An unscored result does not
    qualify.
    """
    return result.qualifies is True and _own_score(result).get("qualifies") is True


def _own_score(result: Result) -> dict:
    """The stored score, if it was computed for the result's own guideline (and file)."""
    score = result.score or {}
    if score.get("guideline") != result.guideline:
        return {}
    if score.get("guideline_sha256", result.guideline_sha256) != result.guideline_sha256:
        return {}
    return score


def marks(result: Result) -> list[str]:
    """The programmes this result earns, by title ("OpenStack Powered Platform 2020.06").

    The target's programme when it qualifies, then each add-on that qualifies and
    whose required platform components this run tested and passed (an add-on
    whose components it did not test proves nothing on its own).  A score stored
    without programmes counts as the target's alone.  What publishing lists.
    """
    score = _own_score(result)
    programmes = score.get("programmes") or []
    if not programmes:
        return [f"{result.target} {result.guideline}"] if qualifies(result) else []
    target, *add_ons = programmes
    if target.get("qualifies") is not True:
        return []
    earned = [_title(target)]
    for add_on in add_ons:
        requires = add_on.get("requires")
        if (
            add_on.get("qualifies") is True
            and requires  # judged (scores stored before requirements were are not)
            and all(r.get("state") == "passed" for r in requires)
        ):
            earned.append(_title(add_on))
    return earned


def _title(programme: dict) -> str:
    guideline = str(programme.get("guideline") or "")
    version = guideline.rsplit(".", 2)[-2:] if guideline.count(".") >= 2 else [guideline]
    return f"{programme.get('name')} {'.'.join(version)}".strip()


def verdict(result: Result) -> str:
    """The stored verdict in words ('qualifies', 'does not qualify', 'not scored')."""
    if result.score is None:
        return "not scored"
    return "qualifies" if qualifies(result) else "does not qualify"


def _linked_to(org_ids: list[str]):  # noqa: ANN202 - an SQL expression
    """Results linked to a product version of one of ``org_ids``."""
    return Result.product_version_id.in_(
        select(ProductVersion.id)
        .join(Product, Product.id == ProductVersion.product_id)
        .where(Product.organization_id.in_(org_ids))
    )


def visible_results(user: User | None) -> Select[tuple[Result]]:
    """A query of the results ``user`` may see (:func:`access.visible_filter`)."""
    return select(Result).where(access.visible_filter(user))


def get_result(db: DbSession, user: User | None, result_id: str) -> Result:
    """The submission ``result_id`` if ``user`` may see it, else :class:`NotFound`."""
    row = db.get(Result, result_id) if len(result_id) <= 36 else None
    return access.visible(user, row, result_id)


@dataclass(frozen=True)
class Filters:
    """Filters of the submissions list; empty strings and ``None`` mean 'any'."""

    guideline: str = ""
    target: str = ""
    verdict: str = ""  # "qualifies" | "fails" | ""
    state: str = ""  # a ReviewState value or ""
    vendor: str = ""  # an organisation id or ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive


@dataclass(frozen=True)
class ResultPage:
    items: list[Result]
    page: int
    pages: int
    total: int
    per_page: int = 20
    filters: Filters = field(default_factory=Filters)


def _apply(query: Select, filters: Filters) -> Select:
    if filters.guideline:
        query = query.where(Result.guideline == filters.guideline)
    if filters.target:
        query = query.where(Result.target == filters.target)
    if filters.verdict == "qualifies":
        query = query.where(Result.qualifies.is_(True))
    elif filters.verdict == "fails":
        query = query.where(Result.qualifies.is_not(True))
    if filters.state:
        if filters.state not in TRANSITIONS:
            raise InvalidInput(
                f"unknown review state {filters.state!r}",
                hint="one of: " + ", ".join(TRANSITIONS),
            )
        query = query.where(Result.review_state == filters.state)
    if filters.vendor:
        members = select(OrganizationMember.user_id).where(
            OrganizationMember.organization_id == filters.vendor
        )
        query = query.where(or_(Result.owner_id.in_(members), _linked_to([filters.vendor])))
    if filters.date_from:
        query = query.where(
            Result.created_at >= dt.datetime.combine(filters.date_from, dt.time.min)
        )
    if filters.date_to:
        end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min)
        query = query.where(Result.created_at < end)
    return query


# what the submissions page reads of each listed row, loaded for the whole page at once
LIST_OPTIONS = (selectinload(Result.product_version).selectinload(ProductVersion.product),)


def list_results(
    db: DbSession, user: User, filters: Filters, page: int = 1, per_page: int = 20
) -> ResultPage:
    """One page of the submissions ``user`` may see, newest first."""
    query = _apply(visible_results(user), filters)
    where = [query.whereclause] if query.whereclause is not None else []
    total = listing.count(db, where)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    items = listing.page_of(db, where, page, per_page, total, options=LIST_OPTIONS)
    return ResultPage(items, page, pages, total, per_page, filters)


def filter_choices(db: DbSession, user: User) -> dict[str, list]:
    """Values worth offering in the list's filters (from what ``user`` can see)."""
    seen = visible_results(user).subquery()
    guidelines = db.scalars(select(seen.c.guideline).distinct().order_by(seen.c.guideline))
    targets = db.scalars(select(seen.c.target).distinct().order_by(seen.c.target))
    vendors = list(
        db.scalars(
            select(Organization).where(access.vendor_filter(user)).order_by(Organization.name)
        )
    )
    return {
        "guidelines": [g for g in guidelines if g],
        "targets": [t for t in targets if t],
        "vendors": vendors,
        "states": list(STATE_LABELS.items()),
    }


def record(
    db: DbSession,
    actor: User | None,
    result_id: str | None,
    action: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    details: dict | None = None,
) -> AuditEvent:
    """Append one event to the audit log (flushed, committed by the caller)."""
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor.id if actor else None,
        result_id=result_id,
        action=action,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        details=details,
    )
    db.add(event)
    db.flush()
    LOG.info(
        "audit: %s on result %s by user %s (%s -> %s)",
        action,
        result_id,
        actor.id if actor else None,
        from_state,
        to_state,
    )
    return event


def move(
    db: DbSession,
    result: Result,
    actor: User,
    to_state: str,
    reason: str = "",
    *,
    confirm_not_qualifying: bool = False,
) -> AuditEvent:
    """Move ``result`` to ``to_state`` as ``actor`` (staff only), with the audit event.

    Verifying a submission that does not :func:`qualify <qualifies>` is refused
    (:class:`Conflict`) unless ``confirm_not_qualifying`` says the reviewer
    means it; the audit event then records the confirmation and the verdict.
    """
    access.check_review(actor)
    from_state = result.review_state
    if to_state not in TRANSITIONS:
        raise InvalidInput(
            f"unknown review state {to_state!r}", hint="one of: " + ", ".join(TRANSITIONS)
        )
    if to_state not in TRANSITIONS.get(from_state, frozenset()):
        allowed = ", ".join(STATE_LABELS[s] for s in sorted(TRANSITIONS.get(from_state, ())))
        raise Conflict(
            f"a submission that is {STATE_LABELS.get(from_state, from_state)} cannot become "
            f"{STATE_LABELS[to_state]}",
            hint=f"from here it can become: {allowed or 'nothing'}",
        )
    reason = (reason or "").strip()
    if reason_required(from_state, to_state) and not reason:
        what = "rejecting" if to_state == REJECTED else "reopening"
        raise InvalidInput(
            f"a reason is required for {what} a submission",
            hint="say what is wrong, so the vendor can fix it",
        )
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            f"the reason is too long ({len(reason)} characters, at most {MAX_REASON})"
        )
    details: dict | None = None
    if to_state == VERIFIED and not qualifies(result):
        if not confirm_not_qualifying:
            raise Conflict(
                f"this submission {verdict(result)} for guideline {result.guideline} "
                f"target {result.target}: verifying it needs an explicit confirmation",
                hint="confirm that you verify it although it does not qualify "
                "(it cannot be published)",
            )
        details = {"confirmed_not_qualifying": True, "verdict": verdict(result)}
    if from_state == VERIFIED and result.published_at is not None:
        details = {"unpublished": True}
        result.published_at = None
    result.review_state = to_state
    return record(
        db,
        actor,
        result.id,
        "review",
        from_state=from_state,
        to_state=to_state,
        reason=reason or None,
        details=details,
    )


def audit_trail(db: DbSession, result_id: str) -> list[AuditEvent]:
    """The audit events of one submission, oldest first."""
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.result_id == result_id)
            .order_by(AuditEvent.at, AuditEvent.id)
        )
    )


def previous_result(db: DbSession, user: User | None, result: Result) -> Result | None:
    """The same cloud's (cpid) submission before ``result`` that ``user`` may see."""
    query = (
        visible_results(user)
        .where(
            Result.cpid == result.cpid,
            Result.id != result.id,
            Result.created_at <= result.created_at,
        )
        .order_by(Result.created_at.desc(), Result.id)
        .limit(1)
    )
    return db.scalar(query)


@dataclass(frozen=True)
class CapabilityDiff:
    previous_id: str
    previous_at: dt.datetime
    comparable: bool  # same guideline and target
    gained: list[str]
    lost: list[str]


def passed_capabilities(result: Result) -> set[str]:
    """Names of capabilities that passed, from the score stored at ingest."""
    caps = (result.score or {}).get("capabilities") or []
    return {c["name"] for c in caps if isinstance(c, dict) and c.get("outcome") == "passed"}


def capability_diff(previous: Result, current: Result) -> CapabilityDiff:
    """Capabilities ``current`` passes that ``previous`` did not (gained), and the reverse."""
    before, now = passed_capabilities(previous), passed_capabilities(current)
    return CapabilityDiff(
        previous_id=previous.id,
        previous_at=previous.created_at,
        comparable=(previous.guideline, previous.target) == (current.guideline, current.target),
        gained=sorted(now - before),
        lost=sorted(before - now),
    )

"""The review workflow and visibility rules (tcup_server.services.review), on SQLite."""

from __future__ import annotations

import datetime as dt

import pytest
from service_db import add_user as _user
from sqlalchemy.orm import Session
from tcup_server.models import (
    AuditEvent,
    Organization,
    OrganizationMember,
    Product,
    ProductVersion,
    Result,
    User,
)
from tcup_server.services import errors, publishing, review


def _result(db: Session, owner: User | None, cpid: str = "c1", **score) -> Result:
    caps = [{"name": n, "status": "required", "outcome": o} for n, o in score.items()]
    qualifies = all(o == "passed" for o in score.values())
    result = Result(
        owner_id=owner.id if owner else None,
        cpid=cpid,
        duration_seconds=1,
        upload_sha256="0" * 64,
        guideline="2020.06",
        target="platform",
        score={"guideline": "2020.06", "qualifies": qualifies, "capabilities": caps},
        qualifies=qualifies,
    )
    db.add(result)
    db.flush()
    return result


def _vendor(db: Session, name: str, *members: User) -> tuple[Organization, ProductVersion]:
    org = Organization(name=name)
    db.add(org)
    db.flush()
    for member in members:
        db.add(OrganizationMember(organization_id=org.id, user_id=member.id, role="admin"))
    product = Product(name=f"{name} cloud", organization_id=org.id)
    db.add(product)
    db.flush()
    version = ProductVersion(product_id=product.id, version="1")
    db.add(version)
    db.flush()
    return org, version


def test_workflow_moves_and_audits(db: Session) -> None:
    staff = _user(db, "sam", "staff")
    result = _result(db, _user(db, "vera"), a="passed")
    review.move(db, result, staff, review.IN_REVIEW)
    review.move(db, result, staff, review.VERIFIED, "looks complete")
    events = review.audit_trail(db, result.id)
    assert [(e.from_state, e.to_state, e.actor_id) for e in events] == [
        ("submitted", "in_review", staff.id),
        ("in_review", "verified", staff.id),
    ]
    assert events[1].reason == "looks complete"
    assert result.review_state == "verified"


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], review.VERIFIED),  # submitted cannot skip the review
        ([], review.REJECTED),
        ([review.IN_REVIEW], review.SUBMITTED),
        ([review.IN_REVIEW, review.VERIFIED], review.REJECTED),
        ([], "approved"),  # not a state at all
    ],
)
def test_illegal_moves_are_refused(db: Session, path: list[str], refused: str) -> None:
    staff = _user(db, "sam", "staff")
    result = _result(db, None, a="passed")
    for state in path:
        review.move(db, result, staff, state, "reason")
    before = result.review_state
    with pytest.raises(errors.DomainError):
        review.move(db, result, staff, refused, "reason")
    assert result.review_state == before
    assert len(review.audit_trail(db, result.id)) == len(path)


def test_rejecting_and_reopening_need_a_reason(db: Session) -> None:
    staff = _user(db, "sam", "staff")
    result = _result(db, None, a="failed")
    review.move(db, result, staff, review.IN_REVIEW)
    with pytest.raises(errors.InvalidInput, match="reason is required"):
        review.move(db, result, staff, review.REJECTED, "   ")
    review.move(db, result, staff, review.REJECTED, "images capability failed")
    with pytest.raises(errors.InvalidInput, match="reason is required"):
        review.move(db, result, staff, review.IN_REVIEW)
    review.move(db, result, staff, review.IN_REVIEW, "vendor fixed the image service")
    assert result.review_state == review.IN_REVIEW


def test_only_staff_move(db: Session) -> None:
    vera = _user(db, "vera")
    result = _result(db, vera, a="passed")
    with pytest.raises(errors.Forbidden):
        review.move(db, result, vera, review.IN_REVIEW)
    assert db.query(AuditEvent).count() == 0


def test_reopening_a_published_submission_withdraws_it(db: Session) -> None:
    staff, vera = _user(db, "sam", "staff"), _user(db, "vera")
    _org, version = _vendor(db, "Vera", vera)
    result = _result(db, vera, a="passed")
    publishing.link_version(db, vera, result, version.id)
    review.move(db, result, staff, review.IN_REVIEW)
    review.move(db, result, staff, review.VERIFIED)
    publishing.publish(db, vera, result)
    assert [e.product for e in publishing.published(db)] == ["Vera cloud"]
    event = review.move(db, result, staff, review.IN_REVIEW, "key was compromised")
    assert event.details == {"unpublished": True}
    assert publishing.published(db) == []


def test_vendors_see_only_their_own(db: Session) -> None:
    staff, vera, otto, vic = (
        _user(db, "sam", "staff"),
        _user(db, "vera"),
        _user(db, "otto"),
        _user(db, "vic"),
    )
    _org, version = _vendor(db, "Vera", vera, vic)
    hers = _result(db, vera, a="passed")
    linked = _result(db, vera, a="passed")
    publishing.link_version(db, vera, linked, version.id)
    his = _result(db, otto, a="passed")
    anonymous = _result(db, None, a="passed")
    # links no service makes any more (written before the rule): they give Vera's vendor nothing
    anonymous.product_version_id = version.id
    his_cross = _result(db, otto, a="passed")
    his_cross.product_version_id = version.id
    db.flush()
    db.expire_all()

    def ids(user: User) -> set[str]:
        return {r.id for r in review.list_results(db, user, review.Filters()).items}

    assert ids(staff) == {hers.id, linked.id, his.id, anonymous.id, his_cross.id}
    assert ids(vera) == {hers.id, linked.id}
    assert ids(vic) == {linked.id}  # a colleague sees what the uploader linked to their vendor
    assert ids(otto) == {his.id, his_cross.id}
    for user, seen in ((vera, {hers, linked}), (vic, {linked}), (otto, {his, his_cross})):
        for result in (hers, linked, his, anonymous, his_cross):
            if result in seen:
                assert review.get_result(db, user, result.id) is result
            else:
                with pytest.raises(errors.NotFound):
                    review.get_result(db, user, result.id)


def test_verifying_a_result_that_does_not_qualify_needs_a_confirmation(db: Session) -> None:
    staff = _user(db, "sam", "staff")
    result = _result(db, _user(db, "vera"), a="passed", b="failed")
    review.move(db, result, staff, review.IN_REVIEW)
    with pytest.raises(errors.Conflict, match="does not qualify"):
        review.move(db, result, staff, review.VERIFIED, "complete run")
    assert result.review_state == review.IN_REVIEW
    event = review.move(
        db, result, staff, review.VERIFIED, "authentic, partial", confirm_not_qualifying=True
    )
    assert result.review_state == review.VERIFIED
    assert event.details == {"confirmed_not_qualifying": True, "verdict": "does not qualify"}
    unscored = _result(db, None)
    unscored.score = unscored.qualifies = None
    review.move(db, unscored, staff, review.IN_REVIEW)
    with pytest.raises(errors.Conflict, match="not scored"):
        review.move(db, unscored, staff, review.VERIFIED)


def test_filters_and_paging(db: Session) -> None:
    staff, vera = _user(db, "sam", "staff"), _user(db, "vera")
    org, _version = _vendor(db, "Vera", vera)
    made = []
    for day in range(5):
        result = _result(db, vera if day % 2 else None, a="passed" if day < 3 else "failed")
        result.created_at = dt.datetime(2026, 3, 1 + day, 12)
        made.append(result)
    db.flush()
    page = review.list_results(db, staff, review.Filters(), page=1, per_page=2)
    assert (page.total, page.pages, [r.id for r in page.items]) == (
        5,
        3,
        [made[4].id, made[3].id],
    )
    last = review.list_results(db, staff, review.Filters(), page=9, per_page=2)
    assert last.page == 3 and [r.id for r in last.items] == [made[0].id]
    fails = review.list_results(db, staff, review.Filters(verdict="fails"))
    assert {r.id for r in fails.items} == {made[3].id, made[4].id}
    by_vendor = review.list_results(db, staff, review.Filters(vendor=org.id))
    assert {r.id for r in by_vendor.items} == {made[1].id, made[3].id}
    dated = review.list_results(
        db,
        staff,
        review.Filters(date_from=dt.date(2026, 3, 2), date_to=dt.date(2026, 3, 3)),
    )
    assert {r.id for r in dated.items} == {made[1].id, made[2].id}


def test_capability_diff_against_previous_upload_of_the_same_cloud(db: Session) -> None:
    vera = _user(db, "vera")
    older = _result(db, vera, "cloud-1", images="failed", compute="passed", dns="passed")
    older.created_at = dt.datetime(2026, 3, 1)
    other_cloud = _result(db, vera, "cloud-2", images="passed")
    other_cloud.created_at = dt.datetime(2026, 3, 2)
    newer = _result(db, vera, "cloud-1", images="passed", compute="passed", dns="failed")
    newer.created_at = dt.datetime(2026, 3, 3)
    db.flush()
    previous = review.previous_result(db, vera, newer)
    assert previous is older
    diff = review.capability_diff(previous, newer)
    assert (diff.gained, diff.lost, diff.comparable) == (["images"], ["dns"], True)
    assert review.previous_result(db, vera, older) is None

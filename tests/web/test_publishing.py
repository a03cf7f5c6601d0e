"""Vendors, products, linking and publishing (tcup_server.services.publishing), on SQLite."""

from __future__ import annotations

import pytest
from service_db import add_user as _user
from sqlalchemy.orm import Session
from tcup_server.models import Result, User
from tcup_server.services import errors, publishing, review


def _result(db: Session, owner: User, qualifies: bool = True) -> Result:
    result = Result(
        owner_id=owner.id,
        cpid="c1",
        duration_seconds=1,
        upload_sha256="0" * 64,
        guideline="2020.06",
        target="platform",
        score={"guideline": "2020.06", "qualifies": qualifies, "capabilities": []},
        qualifies=qualifies,
    )
    db.add(result)
    db.flush()
    return result


@pytest.fixture
def world(db: Session) -> dict:
    staff, vera, otto = _user(db, "sam", "staff"), _user(db, "vera"), _user(db, "otto")
    vendor = publishing.create_vendor(db, staff, "Vera Cloud")
    publishing.add_member(db, staff, vendor, "vera", "admin")
    product = publishing.create_product(db, vera, vendor, "Vera Public", 1)
    version = publishing.create_version(db, vera, product, "2026.1", "c1")
    return {"staff": staff, "vera": vera, "otto": otto, "vendor": vendor, "version": version}


def test_only_staff_create_vendors(db: Session, world: dict) -> None:
    with pytest.raises(errors.Forbidden):
        publishing.create_vendor(db, world["vera"], "Rogue")
    with pytest.raises(errors.Conflict, match="already exists"):
        publishing.create_vendor(db, world["staff"], "Vera Cloud")


def test_members_are_added_by_staff_or_vendor_admins(db: Session, world: dict) -> None:
    with pytest.raises(errors.Forbidden):
        publishing.add_member(db, world["otto"], world["vendor"], "otto")
    with pytest.raises(errors.InvalidInput, match="no user named"):
        publishing.add_member(db, world["vera"], world["vendor"], "nobody")
    with pytest.raises(errors.InvalidInput, match="staff account"):
        publishing.add_member(db, world["vera"], world["vendor"], "sam")
    publishing.add_member(db, world["vera"], world["vendor"], "otto")
    with pytest.raises(errors.Conflict, match="already a member"):
        publishing.add_member(db, world["vera"], world["vendor"], "otto")


def test_outsiders_cannot_add_products_or_see_the_vendor(db: Session, world: dict) -> None:
    with pytest.raises(errors.Forbidden):
        publishing.create_product(db, world["otto"], world["vendor"], "Hijack")
    with pytest.raises(errors.NotFound):
        publishing.get_vendor(db, world["otto"], world["vendor"].id)
    assert publishing.vendors_of(db, world["otto"]) == []
    assert [v.name for v in publishing.vendors_of(db, world["staff"])] == ["Vera Cloud"]


def test_publish_needs_verification_a_product_and_the_owner(db: Session, world: dict) -> None:
    staff, vera, otto = world["staff"], world["vera"], world["otto"]
    result = _result(db, vera)
    with pytest.raises(errors.Forbidden):
        publishing.link_version(db, otto, result, world["version"].id)
    with pytest.raises(errors.Conflict, match="verified"):
        publishing.publish(db, vera, result)
    review.move(db, result, staff, review.IN_REVIEW)
    review.move(db, result, staff, review.VERIFIED)
    with pytest.raises(errors.Conflict, match="link the submission"):
        publishing.publish(db, vera, result)
    with pytest.raises(errors.Forbidden, match="verified test run"):
        publishing.link_version(db, vera, result, world["version"].id)
    review.move(db, result, staff, review.IN_REVIEW, "to link it")
    publishing.link_version(db, vera, result, world["version"].id)
    review.move(db, result, staff, review.VERIFIED)
    with pytest.raises(errors.Forbidden):
        publishing.publish(db, otto, result)
    with pytest.raises(errors.Forbidden):
        publishing.publish(db, staff, result)  # staff verify and withdraw; the owner publishes
    assert publishing.published(db) == []
    publishing.publish(db, vera, result)
    listed = publishing.published(db)
    assert [(e.vendor, e.product, e.version, e.marks) for e in listed] == [
        ("Vera Cloud", "Vera Public", "2026.1", ("platform 2020.06",))
    ]
    assert "c1" not in repr(listed)  # no cpid on the public page
    actions = [e.action for e in review.audit_trail(db, result.id)]
    assert actions.count("publish") == 1 and actions.count("link") == 1
    publishing.unpublish(db, staff, result)
    assert publishing.published(db) == []


def test_link_refuses_another_vendors_version(db: Session, world: dict) -> None:
    otto = world["otto"]
    other = publishing.create_vendor(db, world["staff"], "Otto Systems")
    publishing.add_member(db, world["staff"], other, "otto")
    mine = _result(db, otto)
    with pytest.raises(errors.Forbidden, match="uploader's own vendor"):
        publishing.link_version(db, otto, mine, world["version"].id)
    with pytest.raises(errors.Forbidden, match="uploader's own vendor"):
        publishing.link_version(db, world["staff"], mine, world["version"].id)  # staff too
    assert mine.product_version_id is None
    assert publishing.versions_for(db, world["staff"], mine) == []  # Otto Systems has none


def test_an_unsigned_upload_cannot_be_linked(db: Session, world: dict) -> None:
    anonymous = Result(cpid="c1", duration_seconds=1, upload_sha256="0" * 64)
    db.add(anonymous)
    db.flush()
    with pytest.raises(errors.Forbidden, match="unsigned upload"):
        publishing.link_version(db, world["staff"], anonymous, world["version"].id)


def test_only_a_qualifying_result_is_published(db: Session, world: dict) -> None:
    staff, vera = world["staff"], world["vera"]
    result = _result(db, vera, qualifies=False)
    publishing.link_version(db, vera, result, world["version"].id)
    review.move(db, result, staff, review.IN_REVIEW)
    with pytest.raises(errors.Conflict, match="does not qualify"):
        review.move(db, result, staff, review.VERIFIED)
    assert result.review_state == review.IN_REVIEW
    review.move(db, result, staff, review.VERIFIED, confirm_not_qualifying=True)
    assert not publishing.can_publish(vera, result)
    with pytest.raises(errors.Conflict, match="does not qualify"):
        publishing.publish(db, vera, result)
    assert result.published_at is None
    # a verdict for another guideline than the one claimed does not count either
    other = _result(db, vera)
    other.score = {**other.score, "guideline": "2019.11"}
    assert not review.qualifies(other)
    # published before publishing checked it: the public page leaves it out
    result.published_at = result.created_at
    assert publishing.published(db) == []


def _programme(name: str, guideline: str, qualifies: bool, requires: list | None = None) -> dict:
    entry = {"name": name, "guideline": guideline, "qualifies": qualifies}
    if requires is not None:
        entry["requires"] = [{"component": "os_powered_compute", "state": s} for s in requires]
    return entry


PLATFORM = "OpenStack Powered Platform"
DNS = "OpenStack Powered DNS add-on"
HEAT = "OpenStack Powered Orchestration add-on"


@pytest.mark.parametrize(
    ("programmes", "expected"),
    [
        # every programme qualifies, the add-ons' compute component was tested here
        (
            [
                _programme(PLATFORM, "2020.06", True),
                _programme(DNS, "dns.2020.06", True, ["passed"]),
                _programme(HEAT, "orchestration.2020.06", True, ["passed"]),
            ],
            [f"{PLATFORM} 2020.06", f"{DNS} 2020.06", f"{HEAT} 2020.06"],
        ),
        # an add-on failed: the target's mark (and the other add-on's) still stand
        (
            [
                _programme(PLATFORM, "2020.06", True),
                _programme(DNS, "dns.2020.06", False, ["passed"]),
                _programme(HEAT, "orchestration.2020.06", True, ["passed"]),
            ],
            [f"{PLATFORM} 2020.06", f"{HEAT} 2020.06"],
        ),
        # Storage with DNS: the run did not test the compute component DNS requires,
        # or the score predates requirements: no DNS mark from this run
        (
            [
                _programme("OpenStack Powered Storage", "2020.06", True),
                _programme(DNS, "dns.2020.06", True, ["not tested"]),
                _programme(HEAT, "orchestration.2020.06", True),
            ],
            ["OpenStack Powered Storage 2020.06"],
        ),
        # the target fails: nothing is earned, whatever the add-ons did
        (
            [
                _programme(PLATFORM, "2020.06", False),
                _programme(DNS, "dns.2020.06", True, ["passed"]),
            ],
            [],
        ),
    ],
)
def test_marks_are_the_programmes_a_result_earns(
    db: Session, world: dict, programmes: list, expected: list
) -> None:
    staff, vera = world["staff"], world["vera"]
    every = all(p["qualifies"] for p in programmes)
    result = _result(db, vera, qualifies=every)
    result.score = {**result.score, "programmes": programmes}
    assert review.marks(result) == expected
    publishing.link_version(db, vera, result, world["version"].id)
    review.move(db, result, staff, review.IN_REVIEW)
    review.move(db, result, staff, review.VERIFIED, confirm_not_qualifying=not every)
    assert publishing.can_publish(vera, result) == bool(expected)
    if not expected:
        with pytest.raises(errors.Conflict, match="cannot be published"):
            publishing.publish(db, vera, result)
        return
    publishing.publish(db, vera, result)
    (entry,) = publishing.published(db)
    assert list(entry.marks) == expected
    (event,) = [e for e in review.audit_trail(db, result.id) if e.action == "publish"]
    assert event.details["marks"] == expected

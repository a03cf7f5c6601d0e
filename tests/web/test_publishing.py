"""Vendors, products, linking and publishing (tcup_server.services.publishing), on SQLite."""

from __future__ import annotations

import pytest
from service_db import add_user as _user
from sqlalchemy.orm import Session
from tcup_server.models import Result, User
from tcup_server.services import publishing, review


def _result(db: Session, owner: User) -> Result:
    result = Result(
        owner_id=owner.id,
        cpid="c1",
        duration_seconds=1,
        upload_sha256="0" * 64,
        guideline="2020.06",
        target="platform",
        qualifies=True,
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
    with pytest.raises(review.Forbidden):
        publishing.create_vendor(db, world["vera"], "Rogue")
    with pytest.raises(review.ReviewError, match="already exists"):
        publishing.create_vendor(db, world["staff"], "Vera Cloud")


def test_members_are_added_by_staff_or_vendor_admins(db: Session, world: dict) -> None:
    with pytest.raises(review.Forbidden):
        publishing.add_member(db, world["otto"], world["vendor"], "otto")
    with pytest.raises(review.ReviewError, match="no user named"):
        publishing.add_member(db, world["vera"], world["vendor"], "nobody")
    with pytest.raises(review.ReviewError, match="staff account"):
        publishing.add_member(db, world["vera"], world["vendor"], "sam")
    publishing.add_member(db, world["vera"], world["vendor"], "otto")
    with pytest.raises(review.ReviewError, match="already a member"):
        publishing.add_member(db, world["vera"], world["vendor"], "otto")


def test_outsiders_cannot_add_products_or_see_the_vendor(db: Session, world: dict) -> None:
    with pytest.raises(review.Forbidden):
        publishing.create_product(db, world["otto"], world["vendor"], "Hijack")
    with pytest.raises(review.NotFound):
        publishing.get_vendor(db, world["otto"], world["vendor"].id)
    assert publishing.vendors_of(db, world["otto"]) == []
    assert [v.name for v in publishing.vendors_of(db, world["staff"])] == ["Vera Cloud"]


def test_publish_needs_verification_a_product_and_the_owner(db: Session, world: dict) -> None:
    staff, vera, otto = world["staff"], world["vera"], world["otto"]
    result = _result(db, vera)
    with pytest.raises(review.Forbidden):
        publishing.link_version(db, otto, result, world["version"].id)
    with pytest.raises(review.ReviewError, match="verified"):
        publishing.publish(db, vera, result)
    review.move(db, result, staff, review.IN_REVIEW)
    review.move(db, result, staff, review.VERIFIED)
    with pytest.raises(review.ReviewError, match="link the submission"):
        publishing.publish(db, vera, result)
    with pytest.raises(review.ReviewError, match="cannot be linked"):
        publishing.link_version(db, vera, result, world["version"].id)
    review.move(db, result, staff, review.IN_REVIEW, "to link it")
    publishing.link_version(db, vera, result, world["version"].id)
    review.move(db, result, staff, review.VERIFIED)
    with pytest.raises(review.Forbidden):
        publishing.publish(db, otto, result)
    assert publishing.published(db) == []
    publishing.publish(db, vera, result)
    listed = publishing.published(db)
    assert [(e.vendor, e.product, e.version, e.qualifies) for e in listed] == [
        ("Vera Cloud", "Vera Public", "2026.1", True)
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
    with pytest.raises(review.ReviewError, match="your own vendor"):
        publishing.link_version(db, otto, mine, world["version"].id)
    assert mine.product_version_id is None

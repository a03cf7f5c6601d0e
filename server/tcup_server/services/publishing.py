"""Vendors, their products and versions, and publishing verified submissions.

* Vendors (organisations) are created by staff; staff and the vendor's admins
  add members.  Members create products and product versions (as RefStack:
  a version may carry the cloud's cpid).
* A submission's owner (its uploader, or a colleague at the vendor it is
  linked to) links it to a product version of the uploader's vendor, and,
  once staff have verified it, publishes it, provided it qualifies for the
  guideline and target it claims.  Staff may withdraw a published submission.
* The public listing shows only published, verified, qualifying submissions,
  and only what may be public: vendor, product, version, guideline, target,
  and the marks the submission earns (``review.marks``): its target's, and each
  add-on that qualified with the platform component it requires.  An add-on
  that failed does not keep the target's mark from being published.

Who may do what is :mod:`tcup_server.services.access`; this module adds what
the data must be like (names, duplicates, review state, qualification).

Every change to a submission is appended to the audit log.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from tcup_server.models import (
    Organization,
    OrganizationMember,
    Product,
    ProductVersion,
    Result,
    User,
    utcnow,
)
from tcup_server.services import access
from tcup_server.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from tcup_server.services.review import VERIFIED, marks, record, verdict

LOG = logging.getLogger(__name__)

PRODUCT_TYPES = {0: "Distribution or appliance", 1: "Public cloud", 2: "Hosted private cloud"}
MAX_NAME = 255


def _name(value: str, what: str, limit: int = MAX_NAME) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"the {what} is required")
    if len(value) > limit:
        raise InvalidInput(f"the {what} is too long ({len(value)} characters, at most {limit})")
    return value


# --- vendors and members -------------------------------------------------------------


def vendors_of(db: DbSession, user: User) -> list[Organization]:
    """The vendors ``user`` may manage: all for staff, else the ones they belong to."""
    query = select(Organization).where(access.vendor_filter(user)).order_by(Organization.name)
    return list(db.scalars(query))


def get_vendor(db: DbSession, user: User, vendor_id: str) -> Organization:
    vendor = db.get(Organization, vendor_id)
    if vendor is None or not access.can_see_vendor(user, vendor_id):
        raise NotFound(f"there is no vendor {vendor_id!r} you may see")
    return vendor


def create_vendor(db: DbSession, actor: User, name: str, description: str = "") -> Organization:
    """A new vendor; staff only."""
    access.check_create_vendor(actor)
    name = _name(name, "vendor name")
    if db.scalar(select(Organization).where(Organization.name == name)) is not None:
        raise Conflict(f"a vendor named {name!r} already exists")
    vendor = Organization(
        name=name, description=description.strip() or None, created_by_id=actor.id
    )
    db.add(vendor)
    db.flush()
    record(db, actor, None, "vendor.create", details={"vendor_id": vendor.id, "name": name})
    return vendor


def add_member(
    db: DbSession, actor: User, vendor: Organization, username: str, role: str = "member"
) -> OrganizationMember:
    """Add the existing user ``username`` to ``vendor`` (staff or the vendor's admins)."""
    access.check_vendor_admin(actor, vendor)
    if role not in {"member", "admin"}:
        raise InvalidInput(f"unknown role {role!r}", hint="member or admin")
    username = _name(username, "user name", 128)
    user = db.scalar(select(User).where(User.name == username))
    if user is None:
        raise InvalidInput(
            f"there is no user named {username!r}",
            hint="an administrator creates accounts with `tcup-server create-user`",
        )
    if user.is_staff:
        raise InvalidInput(f"{username!r} is a staff account; vendors' members are vendor accounts")
    if db.get(OrganizationMember, (vendor.id, user.id)) is not None:
        raise Conflict(f"{username!r} is already a member of {vendor.name}")
    # through the relationships, so both rows' in-memory lists see the new member
    member = OrganizationMember(organization=vendor, user=user, role=role)
    db.add(member)
    db.flush()
    record(
        db,
        actor,
        None,
        "vendor.member.add",
        details={"vendor_id": vendor.id, "user_id": user.id, "role": role},
    )
    return member


# --- products and versions -----------------------------------------------------------


def create_product(
    db: DbSession,
    actor: User,
    vendor: Organization,
    name: str,
    product_type: int = 0,
    description: str = "",
) -> Product:
    """A product of ``vendor``; its members and staff may create one."""
    access.check_vendor_member(actor, vendor.id, vendor.name)
    name = _name(name, "product name")
    if product_type not in PRODUCT_TYPES:
        raise InvalidInput(f"unknown product type {product_type!r}")
    exists = select(Product).where(Product.organization_id == vendor.id, Product.name == name)
    if db.scalar(exists) is not None:
        raise Conflict(f"{vendor.name} already has a product named {name!r}")
    product = Product(
        name=name,
        organization_id=vendor.id,
        product_type=product_type,
        description=description.strip() or None,
        created_by_id=actor.id,
    )
    db.add(product)
    db.flush()
    record(db, actor, None, "product.create", details={"product_id": product.id, "name": name})
    return product


def get_product(db: DbSession, user: User, product_id: str) -> Product:
    product = db.get(Product, product_id)
    if product is None or not access.can_see_vendor(user, product.organization_id):
        raise NotFound(f"there is no product {product_id!r} you may see")
    return product


def create_version(
    db: DbSession, actor: User, product: Product, version: str, cpid: str = ""
) -> ProductVersion:
    """A version of ``product``; ``cpid`` ties it to a cloud (as RefStack)."""
    access.check_vendor_member(actor, product.organization_id, product.organization.name)
    version = _name(version, "version", 64)
    cpid = cpid.strip()
    if len(cpid) > 128:
        raise InvalidInput("the cpid is too long (at most 128 characters)")
    exists = select(ProductVersion).where(
        ProductVersion.product_id == product.id, ProductVersion.version == version
    )
    if db.scalar(exists) is not None:
        raise Conflict(f"{product.name} already has a version {version!r}")
    row = ProductVersion(
        product_id=product.id, version=version, cpid=cpid or None, created_by_id=actor.id
    )
    db.add(row)
    db.flush()
    record(db, actor, None, "product.version.create", details={"version_id": row.id})
    return row


def versions_for(db: DbSession, user: User, result: Result) -> list[ProductVersion]:
    """Product versions ``user`` may link ``result`` to (:func:`access.linkable_vendor_ids`)."""
    vendors = access.linkable_vendor_ids(user, result)
    if not vendors:
        return []
    query = (
        select(ProductVersion)
        .join(Product, Product.id == ProductVersion.product_id)
        .join(Organization, Organization.id == Product.organization_id)
        .where(Product.organization_id.in_(vendors))
        .order_by(Organization.name, Product.name, ProductVersion.version)
    )
    return list(db.scalars(query))


# --- submissions: link, publish ------------------------------------------------------


def link_version(db: DbSession, actor: User, result: Result, version_id: str | None) -> None:
    """Link ``result`` to a product version of its uploader's vendor; ``None`` unlinks it.

    The rule is :func:`access.check_link`: the owner side or staff, never once
    verified, and only to a vendor the uploader (and a non-staff caller) belongs to.
    """
    version = None
    if version_id:
        version = db.get(ProductVersion, version_id) if len(version_id) <= 36 else None
        if version is None:
            raise NotFound(f"there is no product version {version_id!r}")
    access.check_link(actor, result, version)
    before = result.product_version_id
    after = version.id if version is not None else None
    if before == after:
        return
    result.product_version_id = after
    result.product_version = version
    details = {"from_version": before}
    if after is not None:
        details["to_version"] = after
    record(db, actor, result.id, "link", details=details)


def _publishable(result: Result) -> None:
    """Raise unless ``result`` may go on the public page (whoever asks)."""
    if result.review_state != VERIFIED:
        raise Conflict(
            "only a verified submission can be published",
            hint="staff verify submissions after review",
        )
    if result.product_version_id is None:
        raise Conflict(
            "link the submission to a product version before publishing it",
            hint="the public page lists products, so the submission needs one",
        )
    if not marks(result):
        raise Conflict(
            f"this submission {verdict(result)} for guideline {result.guideline} "
            f"target {result.target}, so it cannot be published",
            hint="publish a run that qualifies",
        )
    if result.published_at is not None:
        raise Conflict("the submission is already published")


def can_publish(user: User, result: Result) -> bool:
    try:
        access.check_publish(user, result)
        _publishable(result)
    except (Conflict, Forbidden):
        return False
    return True


def publish(db: DbSession, actor: User, result: Result) -> None:
    """Show a verified, qualifying, linked submission on the public page (its owner only)."""
    access.check_publish(actor, result)
    _publishable(result)
    result.published_at = utcnow()
    details = {"verdict": verdict(result), "marks": marks(result)}
    record(db, actor, result.id, "publish", details=details)


def unpublish(db: DbSession, actor: User, result: Result) -> None:
    """Withdraw a submission from the public page (its owner or staff)."""
    access.check_withdraw(actor, result)
    if result.published_at is None:
        raise Conflict("the submission is not published")
    result.published_at = None
    record(db, actor, result.id, "unpublish")


@dataclass(frozen=True)
class PublishedEntry:
    """One line of the public page: nothing private (no raw data, no failures, no cpid)."""

    vendor: str
    product: str
    product_type: str
    version: str
    guideline: str
    target: str
    marks: tuple[str, ...]  # what it earns: "OpenStack Powered Platform 2020.06", ...
    published_at: dt.datetime


def published(db: DbSession) -> list[PublishedEntry]:
    """Every published, verified submission, by vendor and product."""
    rows = db.execute(
        select(Result, ProductVersion, Product, Organization)
        .join(ProductVersion, ProductVersion.id == Result.product_version_id)
        .join(Product, Product.id == ProductVersion.product_id)
        .join(Organization, Organization.id == Product.organization_id)
        .where(Result.published_at.is_not(None), Result.review_state == VERIFIED)
        .order_by(Organization.name, Product.name, ProductVersion.version, Result.published_at)
    )
    entries = []
    for result, version, product, org in rows:
        earned = tuple(marks(result))
        if not earned:  # published before publishing required it: never listed
            continue
        entries.append(
            PublishedEntry(
                vendor=org.name,
                product=product.name,
                product_type=PRODUCT_TYPES.get(product.product_type, ""),
                version=version.version or "",
                guideline=result.guideline or "",
                target=result.target or "",
                marks=earned,
                published_at=result.published_at,
            )
        )
    return entries

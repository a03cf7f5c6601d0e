"""Vendors, their products and versions, and publishing verified submissions.

* Vendors (organisations) are created by staff; staff and the vendor's admins
  add members.  Members create products and product versions (as RefStack:
  a version may carry the cloud's cpid).
* A submission's owner (its uploader, or a member of the vendor it is linked
  to) links it to a product version of their vendor, and, once staff have
  verified it, publishes it.  Staff may withdraw a published submission.
* The public listing shows only published, verified submissions, and only
  what may be public: vendor, product, version, guideline, target, verdict.

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
from tcup_server.services.review import (
    VERIFIED,
    Forbidden,
    NotFound,
    ReviewError,
    organisation_ids,
    record,
)

LOG = logging.getLogger(__name__)

PRODUCT_TYPES = {0: "Distribution or appliance", 1: "Public cloud", 2: "Hosted private cloud"}
MAX_NAME = 255


def _name(value: str, what: str, limit: int = MAX_NAME) -> str:
    value = (value or "").strip()
    if not value:
        raise ReviewError(f"the {what} is required")
    if len(value) > limit:
        raise ReviewError(f"the {what} is too long ({len(value)} characters, at most {limit})")
    return value


# --- vendors and members -------------------------------------------------------------


def vendors_of(db: DbSession, user: User) -> list[Organization]:
    """The vendors ``user`` may manage: all for staff, else the ones they belong to."""
    query = select(Organization).order_by(Organization.name)
    if not user.is_staff:
        query = query.where(Organization.id.in_(organisation_ids(db, user)))
    return list(db.scalars(query))


def get_vendor(db: DbSession, user: User, vendor_id: str) -> Organization:
    vendor = db.get(Organization, vendor_id)
    if vendor is None or not (user.is_staff or vendor_id in organisation_ids(db, user)):
        raise NotFound(f"there is no vendor {vendor_id!r} you may see")
    return vendor


def is_vendor_admin(db: DbSession, user: User, vendor: Organization) -> bool:
    if user.is_staff:
        return True
    member = db.get(OrganizationMember, (vendor.id, user.id))
    return member is not None and member.role == "admin"


def create_vendor(db: DbSession, actor: User, name: str, description: str = "") -> Organization:
    """A new vendor; staff only."""
    if not actor.is_staff:
        raise Forbidden("only staff may create vendors")
    name = _name(name, "vendor name")
    if db.scalar(select(Organization).where(Organization.name == name)) is not None:
        raise ReviewError(f"a vendor named {name!r} already exists")
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
    if not is_vendor_admin(db, actor, vendor):
        raise Forbidden(f"only staff or admins of {vendor.name} may add members")
    if role not in {"member", "admin"}:
        raise ReviewError(f"unknown role {role!r}", hint="member or admin")
    username = _name(username, "user name", 128)
    user = db.scalar(select(User).where(User.name == username))
    if user is None:
        raise ReviewError(
            f"there is no user named {username!r}",
            hint="an administrator creates accounts with `tcup-server create-user`",
        )
    if user.is_staff:
        raise ReviewError(f"{username!r} is a staff account; vendors' members are vendor accounts")
    if db.get(OrganizationMember, (vendor.id, user.id)) is not None:
        raise ReviewError(f"{username!r} is already a member of {vendor.name}")
    member = OrganizationMember(organization_id=vendor.id, user_id=user.id, role=role)
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
    if not (actor.is_staff or vendor.id in organisation_ids(db, actor)):
        raise Forbidden(f"only members of {vendor.name} may add its products")
    name = _name(name, "product name")
    if product_type not in PRODUCT_TYPES:
        raise ReviewError(f"unknown product type {product_type!r}")
    exists = select(Product).where(Product.organization_id == vendor.id, Product.name == name)
    if db.scalar(exists) is not None:
        raise ReviewError(f"{vendor.name} already has a product named {name!r}")
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
    if product is None or not (
        user.is_staff or product.organization_id in organisation_ids(db, user)
    ):
        raise NotFound(f"there is no product {product_id!r} you may see")
    return product


def create_version(
    db: DbSession, actor: User, product: Product, version: str, cpid: str = ""
) -> ProductVersion:
    """A version of ``product``; ``cpid`` ties it to a cloud (as RefStack)."""
    if not (actor.is_staff or product.organization_id in organisation_ids(db, actor)):
        raise Forbidden(f"only members of {product.organization.name} may add versions")
    version = _name(version, "version", 64)
    cpid = cpid.strip()
    if len(cpid) > 128:
        raise ReviewError("the cpid is too long (at most 128 characters)")
    exists = select(ProductVersion).where(
        ProductVersion.product_id == product.id, ProductVersion.version == version
    )
    if db.scalar(exists) is not None:
        raise ReviewError(f"{product.name} already has a version {version!r}")
    row = ProductVersion(
        product_id=product.id, version=version, cpid=cpid or None, created_by_id=actor.id
    )
    db.add(row)
    db.flush()
    record(db, actor, None, "product.version.create", details={"version_id": row.id})
    return row


def versions_for(db: DbSession, user: User) -> list[ProductVersion]:
    """Product versions ``user`` may link a submission to."""
    query = (
        select(ProductVersion)
        .join(Product, Product.id == ProductVersion.product_id)
        .join(Organization, Organization.id == Product.organization_id)
        .order_by(Organization.name, Product.name, ProductVersion.version)
    )
    if not user.is_staff:
        query = query.where(Product.organization_id.in_(organisation_ids(db, user)))
    return list(db.scalars(query))


# --- submissions: link, publish ------------------------------------------------------


def is_owner(db: DbSession, user: User, result: Result) -> bool:
    """The uploader, or a member of the vendor the submission is linked to."""
    if result.owner_id == user.id:
        return True
    version = result.product_version
    return version is not None and version.product.organization_id in organisation_ids(db, user)


def link_version(db: DbSession, actor: User, result: Result, version_id: str) -> None:
    """Link ``result`` to one of the owner's product versions (not once verified)."""
    if not is_owner(db, actor, result):
        raise Forbidden("only the submission's owner may link it to a product")
    if result.review_state == VERIFIED:
        raise ReviewError(
            "a verified submission cannot be linked to another product version",
            hint="ask staff to reopen the review first",
        )
    version = db.get(ProductVersion, version_id) if version_id else None
    if version is None or version.product.organization_id not in organisation_ids(db, actor):
        raise ReviewError(
            "choose a product version of your own vendor",
            hint="create the product and version on the Vendors & products page",
        )
    before = result.product_version_id
    result.product_version_id = version.id
    record(
        db,
        actor,
        result.id,
        "link",
        details={"from_version": before, "to_version": version.id},
    )


def can_publish(db: DbSession, user: User, result: Result) -> bool:
    return (
        result.review_state == VERIFIED
        and result.published_at is None
        and result.product_version_id is not None
        and is_owner(db, user, result)
    )


def publish(db: DbSession, actor: User, result: Result) -> None:
    """Show a verified submission on the public page (its owner only)."""
    if not is_owner(db, actor, result):
        raise Forbidden("only the submission's owner may publish it")
    if result.review_state != VERIFIED:
        raise ReviewError(
            "only a verified submission can be published",
            hint="staff verify submissions after review",
        )
    if result.product_version_id is None:
        raise ReviewError(
            "link the submission to a product version before publishing it",
            hint="the public page lists products, so the submission needs one",
        )
    if result.published_at is not None:
        raise ReviewError("the submission is already published")
    result.published_at = utcnow()
    record(db, actor, result.id, "publish")


def unpublish(db: DbSession, actor: User, result: Result) -> None:
    """Withdraw a submission from the public page (its owner or staff)."""
    if not (actor.is_staff or is_owner(db, actor, result)):
        raise Forbidden("only the submission's owner or staff may withdraw it")
    if result.published_at is None:
        raise ReviewError("the submission is not published")
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
    qualifies: bool
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
    return [
        PublishedEntry(
            vendor=org.name,
            product=product.name,
            product_type=PRODUCT_TYPES.get(product.product_type, ""),
            version=version.version or "",
            guideline=result.guideline or "",
            target=result.target or "",
            qualifies=bool(result.qualifies),
            published_at=result.published_at,
        )
        for result, version, product, org in rows
    ]

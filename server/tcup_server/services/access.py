"""Who may do what to a result: the one access policy of the API, the pages and the services.

Pure functions over a user (``None`` for an anonymous caller) and the rows
involved, plus the SQL filter that lists what a user may see.  The API
(``api/results.py``, ``api/meta.py``), the pages (``web/submissions.py``) and
the services (``review``, ``publishing``) all call these; no other module
decides who may see or change a result.

The rules:

* **Owner side.**  The *uploader* (the user whose registered key signed the
  upload) and their *colleagues*: members of the vendor the result is linked
  to, provided the uploader is a member of that vendor too.  A link to a vendor
  the uploader does not belong to (only possible in data written before this
  rule) gives that vendor nothing.
* **See** a result: staff, the owner side, and anyone once it is published.
  A result the caller may not see is answered exactly like an unknown id.
  Its private facts (cpid, uploader, signing key, manifest, history) are for
  staff and the owner side only; failure details and raw artefacts for staff.
* **Change** its metadata or its product link: staff and the owner side,
  never once it is verified.  **Delete** it: staff and the uploader, never
  once verified.
* **Link** it to a product version: only to a version of a vendor the
  uploader belongs to (and, unless staff, the caller too), everywhere, staff
  included.  An unsigned upload has no uploader and cannot be linked, so it
  can never be published.
* **Review** (move between review states, verify): staff only.
* **Publish**: the owner side, once staff have verified it (the service adds
  that it must be linked and must qualify).  **Withdraw**: staff and the owner side.
* **Vendors**: staff see and manage all; members see theirs and add products
  and versions; staff and the vendor's admins add members.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import aliased

from tcup_server.models import (
    Organization,
    OrganizationMember,
    Product,
    ProductVersion,
    Result,
    ReviewState,
    User,
)
from tcup_server.services.errors import Forbidden, NotFound

VERIFIED = ReviewState.VERIFIED.value


# ------------------------------------------------------------------ who is who


def is_staff(user: User | None) -> bool:
    return user is not None and user.is_staff


def vendor_ids(user: User | None) -> frozenset[str]:
    """The vendors (organisations) ``user`` is a member of."""
    if user is None:
        return frozenset()
    return frozenset(m.organization_id for m in user.memberships)


def linked_vendor_id(result: Result) -> str | None:
    """The vendor of the product version ``result`` is linked to, if any."""
    version = result.product_version
    return version.product.organization_id if version is not None else None


def is_uploader(user: User | None, result: Result) -> bool:
    return user is not None and result.owner_id is not None and result.owner_id == user.id


def is_owner(user: User | None, result: Result) -> bool:
    """The owner side: the uploader, or a member of the linked vendor that the uploader is in."""
    if is_uploader(user, result):
        return True
    vendor = linked_vendor_id(result)
    return (
        vendor is not None
        and result.owner is not None
        and vendor in vendor_ids(user)
        and vendor in vendor_ids(result.owner)
    )


# ------------------------------------------------------------------ results


def can_see(user: User | None, result: Result) -> bool:
    return result.published_at is not None or is_staff(user) or is_owner(user, result)


def can_see_private(user: User | None, result: Result) -> bool:
    """cpid, uploader, signing key, manifest, history: staff and the owner side."""
    return is_staff(user) or is_owner(user, result)


def can_see_failures(user: User | None) -> bool:
    """Failure details and raw artefacts: staff."""
    return is_staff(user)


def visible(
    user: User | None, result: Result | None, result_id: str, what: str = "submission"
) -> Result:
    """``result`` if ``user`` may see it, else :class:`NotFound` (as for an unknown id)."""
    if result is None or not can_see(user, result):
        raise NotFound(f"there is no {what} {result_id!r} you may see")
    return result


def visible_filter(user: User | None) -> ColumnElement[bool]:
    """SQL condition on :class:`Result`: the rows ``user`` may see (the rule of :func:`can_see`)."""
    published = Result.published_at.is_not(None)
    if user is None:
        return published
    if user.is_staff:
        return true()
    return or_(published, Result.owner_id == user.id, _linked_to_colleague(user))


def _linked_to_colleague(user: User) -> ColumnElement[bool]:
    """Linked to a vendor that both ``user`` and the result's uploader belong to."""
    me = aliased(OrganizationMember)
    uploader = aliased(OrganizationMember)
    return (
        select(ProductVersion.id)
        .join(Product, Product.id == ProductVersion.product_id)
        .join(me, me.organization_id == Product.organization_id)
        .join(uploader, uploader.organization_id == Product.organization_id)
        .where(
            ProductVersion.id == Result.product_version_id,
            me.user_id == user.id,
            uploader.user_id == Result.owner_id,
        )
        .exists()
    )


def check_change(user: User | None, result: Result, what: str = "the metadata") -> None:
    """Changing metadata or the product link: staff and the owner side, not once verified."""
    if not (is_staff(user) or is_owner(user, result)):
        raise Forbidden(f"Only the owner or staff may change {what} of a result.")
    if result.review_state == VERIFIED:
        raise Forbidden(f"Can't change {what} of a verified test run.")


def check_delete(user: User | None, result: Result) -> None:
    if not (is_staff(user) or is_uploader(user, result)):
        raise Forbidden("Only the uploader or staff may delete a result.")
    if result.review_state == VERIFIED:
        raise Forbidden("Can't delete verified test run.")


def check_review(user: User | None) -> None:
    if not is_staff(user):
        raise Forbidden("only staff may review submissions")


def linkable_vendor_ids(user: User | None, result: Result) -> frozenset[str]:
    """Vendors whose product versions ``user`` may link ``result`` to."""
    if result.owner is None:
        return frozenset()
    allowed = vendor_ids(result.owner)
    return allowed if is_staff(user) else allowed & vendor_ids(user)


def check_link(user: User | None, result: Result, version: ProductVersion | None) -> None:
    """Linking ``result`` to ``version`` (``None``: unlinking); see the module's rules."""
    check_change(user, result, "the product version")
    if version is None:
        return
    if result.owner is None:
        raise Forbidden(
            "An unsigned upload cannot be linked to a product: no vendor's key vouches for it."
        )
    if version.product.organization_id not in linkable_vendor_ids(user, result):
        raise Forbidden(
            "The product version belongs to a vendor the uploader is not a member of; "
            "a result can only be linked to its uploader's own vendor."
        )


def check_publish(user: User | None, result: Result) -> None:
    """Who may publish; whether the result is fit to be published is the service's check."""
    if not is_owner(user, result):
        raise Forbidden("only the submission's owner may publish it")


def check_withdraw(user: User | None, result: Result) -> None:
    if not (is_staff(user) or is_owner(user, result)):
        raise Forbidden("only the submission's owner or staff may withdraw it")


# ------------------------------------------------------------------ vendors


def can_see_vendor(user: User | None, vendor_id: str) -> bool:
    return is_staff(user) or vendor_id in vendor_ids(user)


def vendor_filter(user: User) -> ColumnElement[bool]:
    """SQL condition on :class:`Organization`: the vendors ``user`` may see and act for."""
    if user.is_staff:
        return true()
    return Organization.id.in_(vendor_ids(user))


def is_vendor_admin(user: User | None, vendor: Organization) -> bool:
    """Staff, or an admin member of ``vendor``."""
    if user is None:
        return False
    if user.is_staff:
        return True
    return any(m.organization_id == vendor.id and m.role == "admin" for m in user.memberships)


def check_vendor_admin(user: User | None, vendor: Organization) -> None:
    if not is_vendor_admin(user, vendor):
        raise Forbidden(f"only staff or admins of {vendor.name} may add members")


def check_create_vendor(user: User | None) -> None:
    if not is_staff(user):
        raise Forbidden("only staff may create vendors")


def check_vendor_member(user: User | None, vendor_id: str, vendor_name: str) -> None:
    """Adding products and versions: staff and the vendor's members."""
    if not can_see_vendor(user, vendor_id):
        raise Forbidden(f"only members of {vendor_name} may add its products and versions")

"""Vendors (organisations), their members, products and product versions."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from tcup_server.services import access, publishing
from tcup_server.web.common import (
    Caller,
    Flash,
    WebRoute,
    csrf_signed_in,
    post_or_refuse,
    render,
    signed_in,
)

router = APIRouter(route_class=WebRoute)


@router.get("/vendors", name="web_vendors")
def vendors_page(who: Caller = Depends(signed_in)) -> Response:
    return _vendors(who)


def _vendors(who: Caller, status: int = 200, flashes: list[Flash] | None = None) -> Response:
    return render(
        who,
        "vendors.html",
        title="Vendors and products",
        nav="vendors",
        status=status,
        flashes=flashes,
        vendors=publishing.vendors_of(who.db, who.user),
    )


@router.post("/vendors", name="web_vendor_create")
def create_vendor(
    name: str = Form(""), description: str = Form(""), who: Caller = Depends(csrf_signed_in)
) -> Response:

    def create() -> str:
        vendor = publishing.create_vendor(who.db, who.user, name, description)
        return f"/vendors/{vendor.id}"

    return post_or_refuse(
        who, create, "vendor_created", lambda status, flashes: _vendors(who, status, flashes)
    )


@router.get("/vendors/{vendor_id}", name="web_vendor")
def vendor_page(vendor_id: str, who: Caller = Depends(signed_in)) -> Response:
    return _vendor(who, vendor_id)


def _vendor(
    who: Caller, vendor_id: str, status: int = 200, flashes: list[Flash] | None = None
) -> Response:
    vendor = publishing.get_vendor(who.db, who.user, vendor_id)
    return render(
        who,
        "vendor.html",
        title=vendor.name,
        nav="vendors",
        status=status,
        flashes=flashes,
        vendor=vendor,
        admin=access.is_vendor_admin(who.user, vendor),
        product_types=publishing.PRODUCT_TYPES,
    )


def _on_vendor(who: Caller, vendor_id: str, action, done: str) -> Response:  # noqa: ANN001
    vendor = publishing.get_vendor(who.db, who.user, vendor_id)

    def run() -> str:
        action(vendor)
        return f"/vendors/{vendor_id}"

    return post_or_refuse(
        who, run, done, lambda status, flashes: _vendor(who, vendor_id, status, flashes)
    )


@router.post("/vendors/{vendor_id}/members", name="web_member_add")
def add_member(
    vendor_id: str,
    username: str = Form(""),
    role: str = Form("member"),
    who: Caller = Depends(csrf_signed_in),
) -> Response:
    return _on_vendor(
        who,
        vendor_id,
        lambda v: publishing.add_member(who.db, who.user, v, username, role),
        "member_added",
    )


@router.post("/vendors/{vendor_id}/products", name="web_product_create")
def create_product(
    vendor_id: str,
    name: str = Form(""),
    product_type: int = Form(0),
    description: str = Form(""),
    who: Caller = Depends(csrf_signed_in),
) -> Response:
    return _on_vendor(
        who,
        vendor_id,
        lambda v: publishing.create_product(who.db, who.user, v, name, product_type, description),
        "product_created",
    )


@router.post("/products/{product_id}/versions", name="web_version_create")
def create_version(
    product_id: str,
    version: str = Form(""),
    cpid: str = Form(""),
    who: Caller = Depends(csrf_signed_in),
) -> Response:
    product = publishing.get_product(who.db, who.user, product_id)
    return _on_vendor(
        who,
        product.organization_id,
        lambda _v: publishing.create_version(who.db, who.user, product, version, cpid),
        "version_created",
    )

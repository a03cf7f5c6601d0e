"""Register and revoke the public keys that sign a vendor's uploads.

The work is done by :mod:`tcup_server.services.keys`, which the API
(``/v1/profile/pubkeys``) calls too, so the page and the API accept and refuse
exactly the same keys (type, self-signature proof, duplicates).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response
from sqlalchemy import select

from tcup_server.errors import status_of
from tcup_server.models import PubKey
from tcup_server.services import keys
from tcup_server.services.errors import DomainError
from tcup_server.web.common import (
    Caller,
    Flash,
    WebRoute,
    csrf_signed_in,
    redirect,
    render,
    signed_in,
)

router = APIRouter(route_class=WebRoute)


def _page(who: Caller, status: int = 200, flashes: list[Flash] | None = None) -> Response:
    rows = who.db.scalars(
        select(PubKey).where(PubKey.user_id == who.user.id).order_by(PubKey.created_at)
    )
    return render(
        who,
        "keys.html",
        title="Signing keys",
        nav="keys",
        status=status,
        flashes=flashes,
        keys=list(rows),
    )


def _refusal(exc: DomainError) -> Flash:
    text = exc.message + (f": {exc.hint}" if exc.hint else "")
    return Flash("error", text)


@router.get("/keys", name="web_keys")
def keys_page(who: Caller = Depends(signed_in)) -> Response:
    return _page(who)


@router.post("/keys", name="web_key_add")
def add_key(
    raw_key: str = Form(""),
    self_signature: str = Form(""),
    who: Caller = Depends(csrf_signed_in),
) -> Response:
    try:
        keys.add_key(who.db, who.user, raw_key.strip(), self_signature.strip())
    except DomainError as exc:
        who.db.rollback()
        return _page(who, status_of(exc), [_refusal(exc)])
    who.db.commit()
    return redirect("/keys", done="key_added")


@router.post("/keys/{key_id}/revoke", name="web_key_revoke")
def revoke_key(key_id: str, who: Caller = Depends(csrf_signed_in)) -> Response:
    try:
        keys.revoke_key(who.db, who.user, key_id)
    except DomainError as exc:
        who.db.rollback()
        return _page(who, status_of(exc), [_refusal(exc)])
    who.db.commit()
    return redirect("/keys", done="key_revoked")

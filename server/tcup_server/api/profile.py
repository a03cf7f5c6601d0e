"""``/v1/profile`` and ``/v1/profile/pubkeys`` as RefStack; login/logout for sessions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from tcup_server import auth
from tcup_server.errors import abort
from tcup_server.models import AuditEvent, PubKey, User
from tcup_server.services import keys
from tcup_server.state import get_state

router = APIRouter(tags=["profile"])


class NewPubKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    raw_key: str
    self_signature: str


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    password: str


def profile_body(user: User) -> dict[str, Any]:
    return {
        "openid": user.openid,
        "email": user.email,
        "fullname": user.fullname or user.name,
        "is_admin": user.is_staff,
        "name": user.name,
        "kind": user.kind,
    }


@router.get("/v1/profile")
def get_profile(user: User = Depends(auth.require_user)) -> dict[str, Any]:
    return profile_body(user)


@router.get("/v1/profile/pubkeys")
def list_pubkeys(
    user: User = Depends(auth.require_user), db: DbSession = Depends(auth.db_session)
) -> list[dict[str, Any]]:
    keys = db.scalars(
        select(PubKey)
        .where(PubKey.user_id == user.id, PubKey.revoked_at.is_(None))
        .order_by(PubKey.id)
    )
    return [
        {
            "id": str(k.id),
            "openid": user.openid,
            "format": k.format,
            "pubkey": k.pubkey,
            "comment": k.comment,
            "fingerprint": k.fingerprint,
        }
        for k in keys
    ]


@router.post("/v1/profile/pubkeys", status_code=201)
def add_pubkey(
    new: NewPubKey,
    user: User = Depends(auth.require_user),
    db: DbSession = Depends(auth.db_session),
) -> JSONResponse:
    key = keys.add_key(db, user, new.raw_key, new.self_signature)
    db.commit()
    return JSONResponse(str(key.id), status_code=201)


@router.delete("/v1/profile/pubkeys/{key_id}", status_code=204)
def delete_pubkey(
    key_id: str,
    user: User = Depends(auth.require_user),
    db: DbSession = Depends(auth.db_session),
) -> Response:
    keys.revoke_key(db, user, key_id)
    db.commit()
    return Response(status_code=204)


@router.post("/v1/auth/login", tags=["auth"])
def login(creds: Login, request: Request, db: DbSession = Depends(auth.db_session)) -> JSONResponse:
    """Password login; sets the session cookie used by the API and the web pages.

    Failed attempts slow down per (user name, client address), together with
    the login page (:mod:`tcup_server.services.login_throttle`): while a pair
    must wait, the answer is 429 with ``Retry-After``, whatever the password.
    Other addresses are not slowed, so nobody can lock the owner out.
    """
    if not get_state(request).settings.password_login:
        raise abort(
            403,
            "Password login is off on this server: log in with single sign-on in the web "
            "pages, and use an API token for scripts.",
        )
    client = auth.client_host(request)
    throttle = auth.login_throttle(request)
    wait = throttle.wait(creds.name, client)
    if wait:
        error = abort(429, f"Too many failed login attempts; try again in {wait} seconds.")
        return JSONResponse(error.body(), status_code=429, headers={"Retry-After": str(wait)})
    user = auth.authenticate_password(db, creds.name, creds.password)
    if user is None:
        throttle.failed(creds.name, client)
        raise abort(401, "Wrong user name or password.")
    throttle.succeeded(creds.name, client)
    token, csrf = auth.start_session(db, user, get_state(request).settings.session_hours)
    db.add(AuditEvent(actor_id=user.id, action="login"))
    db.commit()
    response = JSONResponse({**profile_body(user), "csrf_token": csrf})
    auth.set_session_cookie(response, token, request)
    return response


@router.post("/v1/auth/logout", status_code=204, tags=["auth"])
def logout(
    request: Request,
    db: DbSession = Depends(auth.db_session),
    _user: User | None = Depends(auth.current_user),
) -> Response:
    """End the cookie's session.  Like every change made with the session cookie, it needs
    ``X-CSRF-Token`` (checked by ``current_user``): another site cannot log the user out."""
    auth.end_session(db, request.cookies.get(auth.SESSION_COOKIE))
    db.commit()
    response = Response(status_code=204)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response

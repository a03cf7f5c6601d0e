"""Accounts from the command line: users (vendor or staff) and API tokens."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tcup_server import auth
from tcup_server.models import AuditEvent, User, UserKind
from tcup_server.services.errors import Conflict, InvalidInput, NotFound


def create_user(
    db: Session,
    name: str,
    password: str | None,
    staff: bool = False,
    openid: str | None = None,
    email: str | None = None,
) -> User:
    """Add a user; the openid defaults to ``tcup:user:<name>``."""
    name = name.strip()
    if not name or len(name) > 128 or not name.isprintable():
        raise InvalidInput(f"invalid user name {name!r}: 1 to 128 printable characters")
    if password is not None and len(password) < 8:
        raise InvalidInput("the password is too short", hint="use at least 8 characters")
    user = User(
        name=name,
        kind=UserKind.STAFF.value if staff else UserKind.VENDOR.value,
        openid=openid or f"tcup:user:{name}",
        email=email,
        password_hash=auth.hash_password(password) if password else None,
    )
    db.add(user)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        raise Conflict(f"user '{name}' (or its openid) already exists") from None
    db.add(AuditEvent(action="user.create", details={"name": name, "kind": user.kind}))
    return user


def create_token(db: Session, name: str, label: str, days: int | None = None) -> str:
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user '{name}'", hint="create it with `tcup-server create-user`")
    token = auth.new_api_token(db, user, label, days)
    db.add(AuditEvent(actor_id=user.id, action="token.create", details={"label": label}))
    return token

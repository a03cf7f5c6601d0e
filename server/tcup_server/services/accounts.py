"""Accounts: users (vendor or staff) and API tokens from the command line, and the
accounts of people who sign in through OpenID Connect (linked by issuer and ``sub``)."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tcup_server import auth
from tcup_server.models import AuditEvent, OidcIdentity, User, UserKind, utcnow
from tcup_server.services.errors import Conflict, Forbidden, InvalidInput, NotFound


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


def _name_from_claims(claims: dict[str, Any]) -> str:
    """A readable account name from the provider's claims (never used to find anyone)."""
    for key in ("preferred_username", "email", "name", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if key == "email":
                text = text.split("@", 1)[0]
            text = "".join(c for c in text if c.isprintable()).strip()[:100]
            if text:
                return text
    return "user"


def _claim_text(claims: dict[str, Any], key: str) -> str | None:
    value = claims.get(key)
    return value if isinstance(value, str) and 0 < len(value) <= 255 else None


def _free_name(db: Session, wanted: str) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``...: the first name no account has."""
    taken = set(
        db.scalars(select(User.name).where((User.name == wanted) | User.name.like(f"{wanted}-%")))
    )
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted}-{n}"
    return name


def oidc_openid(issuer: str, subject: str) -> str:
    """The RefStack-style openid of an account made by single sign-on (unique, fixed length)."""
    return "oidc:" + hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()


def sign_in_oidc(
    db: Session, issuer: str, subject: str, claims: dict[str, Any], staff: bool
) -> User:
    """The account of the person (issuer, ``sub``), made on their first sign-in.

    Found only by issuer and ``sub``: an existing account with the same name or
    e-mail address is never taken over (the new account gets a free name).  The
    staff flag follows the provider's claim at every sign-in; a disabled account
    is refused.  Call it before any other change in ``db`` (a lost race for the same
    person or name rolls the session back and looks again); the caller commits.
    """
    if len(issuer) > 255 or not subject or len(subject) > 255:
        raise InvalidInput("the identity provider's issuer or subject is too long")
    kind = UserKind.STAFF.value if staff else UserKind.VENDOR.value
    for _attempt in range(3):
        identity = db.scalar(
            select(OidcIdentity).where(
                OidcIdentity.issuer == issuer, OidcIdentity.subject == subject
            )
        )
        if identity is not None:
            break
        try:
            user = User(
                name=_free_name(db, _name_from_claims(claims)),
                kind=kind,
                openid=oidc_openid(issuer, subject),
                email=_claim_text(claims, "email"),
                fullname=_claim_text(claims, "name"),
                password_hash=None,
            )
            db.add(user)
            db.flush()
            identity = OidcIdentity(issuer=issuer, subject=subject, user_id=user.id)
            db.add(identity)
            db.flush()
            db.add(
                AuditEvent(
                    actor_id=user.id,
                    action="user.create",
                    details={"name": user.name, "kind": kind, "via": "oidc", "iss": issuer},
                )
            )
            break
        except IntegrityError:
            db.rollback()
            continue  # another process signed the same person in, or took the name: look again
    else:
        raise Conflict("could not create the account for this sign-in; try again")
    user = identity.user
    if user.disabled_at is not None:
        raise Forbidden(f"the account '{user.name}' is disabled", hint="ask the Foundation's staff")
    if user.kind != kind:
        db.add(
            AuditEvent(
                actor_id=user.id,
                action="user.kind",
                details={"from": user.kind, "to": kind, "via": "oidc claim"},
            )
        )
        user.kind = kind
    for field, key in (("email", "email"), ("fullname", "name")):
        if value := _claim_text(claims, key):
            setattr(user, field, value)
    identity.last_login_at = utcnow()
    return user


def link_identity(db: Session, name: str, issuer: str, subject: str) -> OidcIdentity:
    """Let the existing account ``name`` sign in as (issuer, ``sub``): an operator's explicit
    choice, for accounts made before single sign-on (their results and memberships stay)."""
    if not issuer:
        raise InvalidInput("no issuer", hint="give --issuer or configure oidc_issuer")
    if not subject or len(subject) > 255 or len(issuer) > 255:
        raise InvalidInput("the subject must be 1 to 255 characters, the issuer at most 255")
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user '{name}'", hint="create it with `tcup-server create-user`")
    taken = db.scalar(
        select(OidcIdentity).where(OidcIdentity.issuer == issuer, OidcIdentity.subject == subject)
    )
    if taken is not None:
        raise Conflict(
            f"{subject!r} at {issuer} is already linked to '{taken.user.name}'",
            hint="that person signs in as that account",
        )
    identity = OidcIdentity(issuer=issuer, subject=subject, user_id=user.id)
    db.add(identity)
    db.add(
        AuditEvent(
            actor_id=None,
            action="user.link",
            details={"name": name, "iss": issuer, "sub": subject},
        )
    )
    return identity

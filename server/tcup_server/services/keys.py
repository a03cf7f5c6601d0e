"""Register and revoke the public keys that sign a user's uploads.

One implementation for the API (``/v1/profile/pubkeys``) and the web page
(``/keys``), so both accept and refuse exactly the same keys: type,
self-signature proof, duplicates.  Refusals are domain errors whose message
is RefStack's title and whose hint its detail, so the API answers exactly as
RefStack does.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from tcup import signing
from tcup.errors import InputError
from tcup_server.models import AuditEvent, PubKey, User, utcnow
from tcup_server.services.errors import Conflict, InvalidInput, NotFound

KEY_TYPES = ("ssh-rsa", "ssh-dss", "pgp-sign-rsa", "pgp-sign-dss")


def add_key(db: DbSession, user: User, raw_key: str, self_signature: str) -> PubKey:
    """Register ``raw_key`` for ``user`` once ``self_signature`` proves they hold it.

    A key the same user revoked earlier comes back to life; any other
    duplicate is refused.  The caller commits.
    """
    fields = raw_key.strip().split()
    if len(fields) < 2 or fields[0] not in KEY_TYPES:
        raise InvalidInput("Request doesnt correspond to schema", hint="raw_key: unknown key type")
    try:
        signing.verify(signing.SELF_SIGNATURE_DATA, self_signature, raw_key)
        fingerprint = signing.fingerprint(raw_key)
    except InputError as exc:
        raise InvalidInput("Bad public key", hint=exc.message) from None
    existing = db.scalar(select(PubKey).where(PubKey.fingerprint == fingerprint))
    if existing is not None:
        if existing.revoked_at is None or existing.user_id != user.id:
            raise Conflict("Public key already exists.")
        existing.revoked_at = None  # the owner registers a key again that they had removed
        key = existing
    else:
        key = PubKey(
            user_id=user.id,
            format=fields[0],
            pubkey=fields[1],
            comment=" ".join(fields[2:]) or None,
            fingerprint=fingerprint,
        )
        db.add(key)
    db.flush()
    db.add(AuditEvent(actor_id=user.id, action="pubkey.add", details={"fingerprint": fingerprint}))
    return key


def revoke_key(db: DbSession, user: User, key_id: str) -> PubKey:
    """Revoke one of ``user``'s live keys by its id; the caller commits.

    The row is kept, so results signed by it still name it.
    """
    key = db.get(PubKey, int(key_id)) if key_id.isdigit() and len(key_id) < 12 else None
    if key is None or key.user_id != user.id or key.revoked_at is not None:
        raise NotFound("Public key not found.")
    key.revoked_at = utcnow()
    db.add(
        AuditEvent(
            actor_id=user.id, action="pubkey.revoke", details={"fingerprint": key.fingerprint}
        )
    )
    return key

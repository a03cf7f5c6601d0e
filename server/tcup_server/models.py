"""The database model of the whole product (SQLAlchemy 2 declarative).

Accounts (users, organisations and their members, products and versions as
RefStack has them), public keys, results with their review state, the passed
test names (stored compactly), raw artefacts, an append-only audit log, API
tokens, idempotency keys and browser sessions.  Schema changes go through an
Alembic migration in ``tcup_server/migrations``.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
import zlib

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_id() -> str:
    """An unguessable identifier (uuid4, 122 random bits)."""
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UserKind(enum.StrEnum):
    VENDOR = "vendor"
    STAFF = "staff"


class ReviewState(enum.StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    VERIFIED = "verified"
    REJECTED = "rejected"


class ArtefactKind(enum.StrEnum):
    UPLOAD = "upload"  # the exact request body as received
    SUBUNIT = "subunit"
    EXTENDED = "extended"  # results-extended.json
    MANIFEST = "manifest"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default=UserKind.VENDOR.value)
    # RefStack identifies users by an OpenID URL; ours default to tcup:user:<name>.
    openid: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    fullname: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    pubkeys: Mapped[list[PubKey]] = relationship(back_populates="user")
    memberships: Mapped[list[OrganizationMember]] = relationship(back_populates="user")

    @property
    def is_staff(self) -> bool:
        return self.kind == UserKind.STAFF.value


class Organization(Base):
    """A vendor (RefStack: organization); its members may act for its products."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    members: Mapped[list[OrganizationMember]] = relationship(back_populates="organization")
    products: Mapped[list[Product]] = relationship(back_populates="organization")


class OrganizationMember(Base):
    __tablename__ = "organization_members"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), default="member")  # admin | member
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="members")
    user: Mapped[User] = relationship(back_populates="memberships")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    # RefStack: 0 distribution, 1 public cloud, 2 hosted private cloud
    product_type: Mapped[int] = mapped_column(Integer, default=0)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    properties: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    organization: Mapped[Organization] = relationship(back_populates="products")
    versions: Mapped[list[ProductVersion]] = relationship(back_populates="product")

    __table_args__ = (UniqueConstraint("organization_id", "name"),)


class ProductVersion(Base):
    __tablename__ = "product_versions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    version: Mapped[str | None] = mapped_column(String(64))
    cpid: Mapped[str | None] = mapped_column(String(128), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    product: Mapped[Product] = relationship(back_populates="versions")

    __table_args__ = (UniqueConstraint("product_id", "version"),)


class PubKey(Base):
    """A registered RSA public key; uploads signed by it belong to its user."""

    __tablename__ = "pubkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(32))  # ssh-rsa
    pubkey: Mapped[str] = mapped_column(Text)  # base64 blob of the OpenSSH line
    comment: Mapped[str | None] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(back_populates="pubkeys")


class Result(Base):
    __tablename__ = "results"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    cpid: Mapped[str] = mapped_column(String(128), index=True)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    guideline: Mapped[str | None] = mapped_column(String(64))  # e.g. 2020.06 or dns.2020.06
    guideline_sha256: Mapped[str | None] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(64))
    add_ons: Mapped[list | None] = mapped_column(JSON)
    upload_sha256: Mapped[str] = mapped_column(String(64))
    key_fingerprint: Mapped[str | None] = mapped_column(String(128))
    # Identity of a signed upload: sha256 of the key fingerprint and the signed content's
    # digest.  Unique, so a replay of the same signed content can never make a second record.
    signed_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    passed_count: Mapped[int] = mapped_column(Integer, default=0)
    # Outcome of tcup.scoring at ingest: {"qualifies": bool, "verdict": str, "capabilities": [...]}
    score: Mapped[dict | None] = mapped_column(JSON)
    qualifies: Mapped[bool | None] = mapped_column(Boolean)
    verdict: Mapped[str | None] = mapped_column(Text)  # the verdict line of ``score``
    # What the score was computed from: "states" (every test's state) or "passed" (names only)
    score_basis: Mapped[str | None] = mapped_column(String(16))
    meta: Mapped[dict | None] = mapped_column(JSON)  # RefStack meta: shared, guideline, target
    review_state: Mapped[str] = mapped_column(String(16), default=ReviewState.SUBMITTED.value)
    product_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("product_versions.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    owner: Mapped[User | None] = relationship()
    product_version: Mapped[ProductVersion | None] = relationship()
    tests: Mapped[ResultTests | None] = relationship(
        back_populates="result", cascade="all, delete-orphan", uselist=False
    )
    artefacts: Mapped[list[Artefact]] = relationship(
        back_populates="result", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_results_owner_created", "owner_id", "created_at"),)


# In the lists' order (newest first, then id): a page's ids are read from it alone, and
# on PostgreSQL also who may see each row (access.visible_filter's columns).
Index(
    "ix_results_created_id",
    Result.created_at.desc(),
    Result.id,
    postgresql_include=["owner_id", "published_at", "product_version_id"],
)


NAMES_LEVEL = 3  # zlib level of ResultTests.names_z


class ResultTests(Base):
    """Passed test names of one result, newline-joined and zlib-compressed (one row per result)."""

    __tablename__ = "result_tests"

    result_id: Mapped[str] = mapped_column(
        ForeignKey("results.id", ondelete="CASCADE"), primary_key=True
    )
    count: Mapped[int] = mapped_column(Integer)
    names_z: Mapped[bytes] = mapped_column(LargeBinary)

    result: Mapped[Result] = relationship(back_populates="tests")

    @staticmethod
    def compress(names: list[str]) -> bytes:
        """``names_z`` of ``names``.  zlib level 3: a quarter of level 6's time for 300 test
        names (some 30 KB), about a sixth larger; reading is the same at every level."""
        return zlib.compress("\n".join(names).encode("utf-8"), NAMES_LEVEL)

    def names(self) -> list[str]:
        text = zlib.decompress(self.names_z).decode("utf-8")
        return text.split("\n") if text else []


class Artefact(Base):
    """A raw file kept for a result in the artefact store (encrypted at rest)."""

    __tablename__ = "artefacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    result_id: Mapped[str] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))  # of the plaintext
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    result: Mapped[Result] = relationship(back_populates="artefacts")


class AuditEvent(Base):
    """Append-only: who did what to which result, and why."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    result_id: Mapped[str | None] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict | None] = mapped_column(JSON)


# ``Session.info`` key: the audit events of a session's open transaction, as (action,
# from_state, to_state); whoever counts committed audit events (metrics) reads it on commit.
PENDING_AUDIT = "tcup_pending_audit"


def note_audit(session: object, action: str, from_state: str | None, to_state: str | None) -> None:
    """Record on ``session`` (a ``Session``) an audit event it inserted without the ORM
    (a Core INSERT); events added through the ORM are recorded when they are flushed."""
    session.info.setdefault(PENDING_AUDIT, []).append((action, from_state, to_state))


class ApiToken(Base):
    """A bearer token for scripts; only its sha256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


class IdempotencyKey(Base):
    """Maps (uploader scope, key) to the first result stored for it."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(160), primary_key=True)  # key fingerprint | anonymous
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    result_id: Mapped[str] = mapped_column(ForeignKey("results.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Session(Base):
    """A browser session; the cookie holds a random token, the table only its sha256."""

    __tablename__ = "sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # The ID token of a single sign-on login (the hint for the provider's logout); None
    # for a password login.
    oidc_id_token: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship()


class OidcIdentity(Base):
    """A user's account at an OpenID Connect provider: the issuer and its ``sub`` name
    the person for good (an e-mail address or a user name never links accounts)."""

    __tablename__ = "oidc_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("issuer", "subject"),)


class OidcLogin(Base):
    """A single sign-on begun and not finished: what the browser's answer must match.

    Keyed by the sha256 of a random cookie given to the browser that began it, so any
    server process can finish it; used once, and only for a few minutes.
    """

    __tablename__ = "oidc_logins"

    browser_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class LoginFailure(Base):
    """Failed password logins of one account name from one client address (or, with
    ``account_sha256 = "*"``, of every name from that address), for the login throttle.

    In the database so that every server process counts the same failures.  The name
    is kept only as a sha256 digest: people type passwords into name fields.
    """

    __tablename__ = "login_failures"

    account_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)

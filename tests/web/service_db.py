"""Helpers of the service tests (publishing, review) that run on in-memory SQLite."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from tcup_server.models import Base, User


def sqlite_session() -> Iterator[Session]:
    """A session on a fresh in-memory SQLite database holding the whole schema."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session


def add_user(db: Session, name: str, kind: str = "vendor") -> User:
    user = User(name=name, kind=kind, openid=f"tcup:user:{name}")
    db.add(user)
    db.flush()
    return user

"""Database engine, sessions and migrations (Alembic, scripts inside this package)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tcup.errors import InputError
from tcup_server import filemodes

LOG = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _postgresql_settings(dbapi_connection, _record) -> None:
    """No JIT compilation: it pays off for long analytic queries, never for ours.  A list
    over 100 000 results is estimated costly enough to trigger it, and compiling took
    250 ms for a query that runs in 10.  (A SET, not a startup option: poolers such as
    PgBouncer refuse those.)"""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET jit = off")
    dbapi_connection.commit()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout, PostgreSQL
    no JIT.

    ``hide_parameters``: a database error's message (which may reach the log)
    never carries the values of a statement, such as a token digest or a name.
    """
    if url.startswith("sqlite"):
        path = filemodes.sqlite_file(url)
        if path is not None:
            filemodes.prepare_sqlite(path)  # 0600 before SQLite creates it (and its WAL/SHM)
        engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        hide_parameters=True,
    )
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_settings)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``; safe to run again."""
    try:
        command.upgrade(alembic_config(engine), revision)
    except OperationalError as exc:
        raise InputError(
            f"cannot reach the database {engine.url.render_as_string(hide_password=True)}: "
            f"{exc.orig}",
            hint="check database_url (TCUP_SERVER_DATABASE_URL) and that the server is running",
        ) from exc


def downgrade(engine: Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(engine), revision)

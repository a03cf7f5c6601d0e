"""The Alembic migration creates every table on an empty database, and goes back down."""

from __future__ import annotations

import pytest
from server_helpers import fresh_postgres_database
from sqlalchemy import inspect
from tcup_server import db
from tcup_server.models import Base


def _roundtrip(url: str) -> None:
    engine = db.make_engine(url)
    db.upgrade(engine)
    db.upgrade(engine)  # idempotent
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    for name, table in Base.metadata.tables.items():
        columns = {c["name"] for c in inspect(engine).get_columns(name)}
        assert columns == set(table.columns.keys()), name
    db.downgrade(engine)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_sqlite_from_empty(tmp_path):
    _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.integration
def test_postgresql_from_empty(postgres_url):
    with fresh_postgres_database(postgres_url) as url:
        _roundtrip(url)

"""Helpers shared by the server tests: signing like refstack-client, fixture paths."""

from __future__ import annotations

import binascii
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tcup import signing

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


# Run a module on SQLite and (integration) on PostgreSQL: ``pytestmark = ON_EVERY_DATABASE``.
ON_EVERY_DATABASE = pytest.mark.parametrize(
    "database_url",
    ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
    indirect=True,
)


def interop_dir() -> Path:
    return Path(os.environ.get("TCUP_INTEROP_DIR") or REPO.parent / "shared" / "interop")


def refstack_client_post(body: dict, key: rsa.RSAPrivateKey) -> tuple[bytes, dict[str, str]]:
    """The body and headers exactly as refstack-client's ``post_results`` builds them."""
    data = json.dumps(body)
    signer = key.sign(data.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    headers = {
        "Content-type": "application/json;charset=UTF-8",
        "X-Signature": binascii.b2a_hex(signer).decode(),
        "X-Public-Key": signing.public_key_line(key),
    }
    return data.encode("utf-8"), headers


def signed(body: bytes, key: rsa.RSAPrivateKey) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Signature": signing.sign(body, key),
        "X-Public-Key": signing.public_key_line(key),
    }


@contextmanager
def fresh_postgres_database(server_url: str, template: str | None = None) -> Iterator[str]:
    """A new, uniquely named database on ``server_url`` (a copy of ``template``), dropped after."""
    server = make_url(server_url)
    name = f"tcup_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        copy = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def own_swift_container(cloud) -> Iterator[str]:
    """The name of a Swift container of its own in ``cloud`` (the reference cloud),
    emptied and removed afterwards."""
    name = f"tcup-test-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        conn = cloud.connect()
        store = conn.object_store
        for obj in store.objects(name):
            store.delete_object(obj, container=name, ignore_missing=True)
        store.delete_container(name, ignore_missing=True)
        conn.close()

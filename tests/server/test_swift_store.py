"""The Swift artefact backend against the reference cloud's real Swift."""

from __future__ import annotations

import dataclasses

import pytest
from server_helpers import signed
from sqlalchemy import select
from tcup_server.models import Artefact
from tcup_server.storage import ArtefactNotFound, EncryptedStore
from tcup_server.storage.swift import SwiftStore

pytestmark = pytest.mark.integration


@pytest.fixture
def swift(reference_cloud, swift_container) -> SwiftStore:
    return SwiftStore(reference_cloud.cloud, swift_container, reference_cloud.connect())


def test_put_get_exists_list_delete(swift):
    assert not swift.exists("results/ab/x/upload")
    with pytest.raises(ArtefactNotFound):
        swift.get("results/ab/x/upload")
    data = bytes(range(256)) * 64
    swift.put("results/ab/x/upload", data)
    swift.put("results/ab/x/subunit", b"second")
    assert swift.exists("results/ab/x/upload")
    assert swift.get("results/ab/x/upload") == data
    listed = {obj.key for obj in swift.list("results/ab/")}
    assert listed == {"results/ab/x/upload", "results/ab/x/subunit"}
    swift.delete("results/ab/x/upload")
    swift.delete("results/ab/x/upload")  # a missing key is not an error
    assert not swift.exists("results/ab/x/upload")
    assert {obj.key for obj in swift.list()} == {"results/ab/x/subunit"}


def test_encrypted_at_rest_in_swift(swift, reference_cloud, swift_container):
    store = EncryptedStore(swift, b"k" * 32)
    plaintext = b'{"cpid": "secret-cloud", "results": []}' * 10
    store.put("results/cd/y/upload", plaintext)
    raw = reference_cloud.connect().object_store.download_object(
        "results/cd/y/upload", container=swift_container
    )
    assert raw != plaintext and b"secret-cloud" not in raw
    assert store.get("results/cd/y/upload") == plaintext
    with pytest.raises(ValueError, match="cannot be decrypted"):
        EncryptedStore(swift, b"x" * 32).get("results/cd/y/upload")


@pytest.fixture
def server_settings(server_settings, reference_cloud, swift_container, monkeypatch):
    """The usual test server, with its artefacts in the reference cloud's Swift."""
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(reference_cloud.clouds_yaml))
    return dataclasses.replace(
        server_settings,
        artefact_backend="swift",
        swift_cloud=reference_cloud.cloud,
        swift_container=swift_container,
    )


def test_upload_through_the_app_stores_artefacts_in_swift(
    app, client, actors, subunit_body, reference_cloud, swift_container
):
    store = app.state.tcup.store
    assert isinstance(store, EncryptedStore) and isinstance(store.inner, SwiftStore)
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, actors["vendor_a"].key)
    )
    assert response.status_code == 201, response.text
    test_id = response.json()["test_id"]
    with app.state.tcup.sessions() as session:
        [artefact] = session.scalars(select(Artefact).where(Artefact.result_id == test_id))
    conn = reference_cloud.connect()
    raw = conn.object_store.download_object(artefact.storage_key, container=swift_container)
    assert subunit_body[:40] not in raw
    assert store.get(artefact.storage_key) == subunit_body
    deleted = client.delete(f"/v1/results/{test_id}", headers=actors["vendor_a"].headers)
    assert deleted.status_code == 204
    assert not store.exists(artefact.storage_key)

"""Raw artefacts (upload bodies, subunit streams, extended results) behind one interface.

``ArtefactStore`` has four operations — ``put``, ``get``, ``delete``,
``exists`` — and two backends: a local directory (default) and an OpenStack
object store (Swift).  ``open_store(settings)`` picks one and wraps it in
``EncryptedStore`` so every artefact is AES-GCM encrypted at rest with the
server key; the database holds only storage keys and digests, so API
processes stay stateless.
"""

from __future__ import annotations

import abc
import datetime as dt
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tcup.errors import InputError


class ArtefactNotFound(LookupError):
    """No artefact is stored under this key."""


class StoreUnavailable(RuntimeError):
    """The store cannot be used now (readiness check); the message names no secret."""


@dataclass(frozen=True)
class StoredObject:
    """One stored object, as ``ArtefactStore.list`` reports it."""

    key: str
    modified: dt.datetime  # naive UTC


class ArtefactStore(abc.ABC):
    """Bytes by key.  Keys are ``/``-separated ASCII paths chosen by the server."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``ArtefactNotFound`` if there are none."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix`` (for integrity checks and gc)."""

    def check(self) -> None:
        """Raise if the store cannot be used now (readiness); one cheap request, no write."""
        self.exists("health/probe")


MAGIC = b"TCUPAE1"  # format marker + version of the encrypted envelope
NONCE_BYTES = 12


class EncryptedStore(ArtefactStore):
    """AES-256-GCM around another store; the storage key is bound as associated data."""

    def __init__(self, inner: ArtefactStore, key: bytes) -> None:
        if len(key) != 32:
            raise InputError("the artefact key must be 32 bytes (AES-256)")
        self.inner = inner
        self._aead = AESGCM(key)

    def put(self, key: str, data: bytes) -> None:
        nonce = os.urandom(NONCE_BYTES)
        self.inner.put(key, MAGIC + nonce + self._aead.encrypt(nonce, data, key.encode()))

    def get(self, key: str) -> bytes:
        blob = self.inner.get(key)
        if not blob.startswith(MAGIC):
            raise ValueError(f"artefact {key!r} is not in the encrypted format")
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], key.encode())
        except InvalidTag as exc:
            raise ValueError(
                f"artefact {key!r} cannot be decrypted: wrong server key or tampered data"
            ) from exc

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[StoredObject]:
        return self.inner.list(prefix)

    def check(self) -> None:
        self.inner.check()


# Writes of artefacts beside the database work of an upload (see ``put_all``).
_WRITERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="tcup-artefact-put")


def put_all(store: ArtefactStore, objects: Mapping[str, bytes]) -> Future[None]:
    """Start storing ``objects`` (key -> bytes) in a background thread; the future ends
    when every one is stored (``put`` returned: written and synced), or with the first error.

    Ingest inserts the record meanwhile and commits it only after the future's result,
    so no record ever refers to an artefact that is not stored.
    """

    def write() -> None:
        for key, data in objects.items():
            store.put(key, data)

    return _WRITERS.submit(write)


def open_store(settings, artefact_key: bytes) -> ArtefactStore:  # noqa: ANN001 - ServerSettings
    """The configured backend, encrypted with ``artefact_key``."""
    if settings.artefact_backend == "swift":
        from tcup_server.storage.swift import SwiftStore

        inner: ArtefactStore = SwiftStore(settings.swift_cloud, settings.swift_container)
    else:
        from tcup_server.storage.local import LocalStore

        inner = LocalStore(settings.resolved_artefact_dir)
    return EncryptedStore(inner, artefact_key)

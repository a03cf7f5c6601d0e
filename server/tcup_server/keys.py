"""The server's own keys: the artefact encryption key and the receipt signing key.

Both come from configuration when given (``artefact_key`` base64), else from
files under ``keys_dir`` created on first use with mode 0600:
``artefact.key`` (32 random bytes, base64) and ``receipt-key.pem`` (Ed25519;
a server made before keeps signing with its RSA key, which still loads).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tcup import signing
from tcup.errors import InputError
from tcup_server.settings import ServerSettings


@dataclass(frozen=True)
class ServerKeys:
    artefact_key: bytes
    receipt_key: signing.ReceiptKey

    @property
    def receipt_public_key(self) -> str:
        return signing.public_key_line(self.receipt_key, "tcup-server")

    @property
    def receipt_algorithm(self) -> str:
        return signing.receipt_algorithm(self.receipt_key)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _decode_key(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise InputError(
            f"{origin}: the artefact key must be 32 bytes, base64-encoded",
            hint="create one with: openssl rand -base64 32",
        )
    return key


def load_keys(settings: ServerSettings, create: bool = True) -> ServerKeys:
    """Read (or, with ``create``, make on first use) the server keys."""
    keys_dir = settings.resolved_keys_dir
    if settings.artefact_key:
        artefact = _decode_key(settings.artefact_key, "artefact_key")
    else:
        path = keys_dir / "artefact.key"
        if not path.exists():
            if not create:
                raise InputError(
                    f"no artefact key at '{path}'", hint="run `tcup-server db upgrade`"
                )
            with contextlib.suppress(FileExistsError):  # another process was first
                _write_private(path, base64.b64encode(os.urandom(32)) + b"\n")
        artefact = _decode_key(path.read_text(), f"key file '{path}'")
    pem = keys_dir / "receipt-key.pem"
    if not pem.exists():
        if not create:
            raise InputError(f"no receipt key at '{pem}'", hint="run `tcup-server db upgrade`")
        with contextlib.suppress(FileExistsError):
            _write_private(pem, signing.private_key_pem(ed25519.Ed25519PrivateKey.generate()))
    return ServerKeys(artefact_key=artefact, receipt_key=load_receipt_key(pem))


def load_receipt_key(path: Path) -> signing.ReceiptKey:
    """The receipt key in ``path``: Ed25519, or the RSA key of a server made before."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"receipt key '{path}' is not an unencrypted PEM private key",
            hint="restore it from your backup, or move it away to make a new one "
            "(receipts already given then no longer check against the server key)",
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot read receipt key '{path}': {exc.strerror}") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise InputError(f"receipt key '{path}' is neither Ed25519 nor RSA")
    return key

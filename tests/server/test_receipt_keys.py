"""The receipt key: Ed25519 for a new server; the RSA key of a server made before still signs."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from tcup_server.keys import load_keys
from tcup_server.services.ingest import receipt_payload
from tcup_server.settings import load_settings

from tcup import signing
from tcup.errors import InputError

FIELDS = {
    "test_id": "r1",
    "url": "http://x/results/r1",
    "sha256": "0" * 64,
    "created_at": "2026-12-01 10:00:00",
    "key_fingerprint": None,
    "covered": {"signed": "body", "sha256": "0" * 64},
}


def _keys(tmp_path: Path):
    return load_keys(load_settings(environ={}, data_dir=tmp_path))


def test_a_new_server_signs_receipts_with_ed25519(tmp_path: Path) -> None:
    keys = _keys(tmp_path)
    assert isinstance(keys.receipt_key, ed25519.Ed25519PrivateKey)
    assert keys.receipt_algorithm == "Ed25519"
    line = keys.receipt_public_key
    assert line.startswith("ssh-ed25519 ") and line.endswith(" tcup-server")
    payload = receipt_payload(FIELDS)
    signature = signing.sign_receipt(payload, keys.receipt_key)
    signing.verify_receipt(payload, signature, line)
    with pytest.raises(signing.SignatureError, match="receipt was changed"):
        signing.verify_receipt(receipt_payload({**FIELDS, "test_id": "r2"}), signature, line)
    assert _keys(tmp_path).receipt_public_key == line  # the same key on the next start


def test_the_rsa_receipt_key_of_an_older_server_keeps_signing(tmp_path: Path) -> None:
    old = signing.generate_key(2048)
    pem = tmp_path / "keys" / "receipt-key.pem"
    pem.parent.mkdir(mode=0o700)
    pem.write_bytes(signing.private_key_pem(old))
    keys = _keys(tmp_path)
    assert isinstance(keys.receipt_key, rsa.RSAPrivateKey)
    assert keys.receipt_algorithm == "RSASSA-PKCS1-v1_5-SHA256"
    assert keys.receipt_public_key == signing.public_key_line(old, "tcup-server")
    payload = receipt_payload(FIELDS)
    signature = signing.sign_receipt(payload, keys.receipt_key)
    assert signature == signing.sign(payload, old)  # receipts as that server always gave them
    signing.verify_receipt(payload, signature, keys.receipt_public_key)


def test_a_receipt_key_that_is_no_key_is_named(tmp_path: Path) -> None:
    pem = tmp_path / "keys" / "receipt-key.pem"
    pem.parent.mkdir(mode=0o700)
    pem.write_text("not a key\n", encoding="utf-8")
    with pytest.raises(InputError, match="is not an unencrypted PEM private key"):
        _keys(tmp_path)


def test_a_receipt_signature_that_is_not_hex_is_refused() -> None:
    line = signing.public_key_line(ed25519.Ed25519PrivateKey.generate(), "tcup-server")
    with pytest.raises(signing.SignatureError, match="malformed"):
        signing.verify_receipt(b"{}", "zz", line)

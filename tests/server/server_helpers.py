"""Helpers shared by the server tests: signing like refstack-client, fixture paths."""

from __future__ import annotations

import binascii
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tcup import signing

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


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

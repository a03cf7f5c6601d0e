"""RSA keys and RefStack-compatible signatures.

What RefStack and refstack-client agree on (see ``../shared/docs/refstack-protocol.md`` §2):

* the key is RSA; the client loads it as an unencrypted PEM private key
  (PKCS#1 ``BEGIN RSA PRIVATE KEY`` or PKCS#8 ``BEGIN PRIVATE KEY``);
* the signature is RSASSA-PKCS1-v1_5 with SHA-256 over the exact request
  body bytes, sent as lowercase hex in ``X-Signature``;
* the public key travels as an OpenSSH line (``ssh-rsa AAAA...``) in
  ``X-Public-Key`` and is looked up by the md5 of its base64-decoded blob;
* a key is registered with a self-signature over the ASCII bytes ``signature``;
* API calls may carry an RS256 JWT with the claims ``user_openid`` and ``exp``.

A TCUP server also signs the receipts it answers uploads with: with an
Ed25519 key (a server made before signs with RSA, as above); see
:func:`sign_receipt` and :func:`verify_receipt`.

This module is pure (no network, no CLI): the server reuses ``verify``,
``fingerprint``, ``refstack_key_id`` and ``verify_bearer_token``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import jwt
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from tcup.errors import InputError
from tcup.files import write_private

LOG = logging.getLogger(__name__)

MIN_KEY_BITS = 2048
DEFAULT_KEY_BITS = 4096
PASSPHRASE_ENV = "TCUP_KEY_PASSPHRASE"  # noqa: S105 (a variable name)
SELF_SIGNATURE_DATA = b"signature"
JWT_OPENID_CLAIM = "user_openid"
JWT_LEEWAY_SECONDS = 42  # what RefStack's decode_token allows
DEFAULT_TOKEN_LIFETIME = 300

_KEYGEN_HINT = "create a key with `tcup keygen --out PATH` (RSA, 4096 bits)"


class SignatureError(InputError):
    """A signature, a public key or a bearer token does not check out."""


# --------------------------------------------------------------------------- keys


def generate_key(bits: int = DEFAULT_KEY_BITS) -> rsa.RSAPrivateKey:
    """A new RSA private key (public exponent 65537) of ``bits`` bits."""
    _check_bits(bits, "the requested key")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: ReceiptKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM; unencrypted unless a passphrase is given (refstack-client needs unencrypted)."""
    encryption: serialization.KeySerializationEncryption
    if passphrase:
        encryption = serialization.BestAvailableEncryption(passphrase)
    else:
        encryption = serialization.NoEncryption()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def write_key_pair(
    key: rsa.RSAPrivateKey,
    path: Path,
    passphrase: bytes | None = None,
    overwrite: bool = False,
    comment: str | None = None,
) -> tuple[Path, Path]:
    """Write ``path`` (private PEM, mode 0600) and ``path.pub`` (OpenSSH line).

    The private key file is created with 0600 from the start, never widened
    afterwards, so it is not readable by others even for a moment.
    """
    path = Path(path)
    pub_path = path.with_name(path.name + ".pub")
    if not overwrite:
        for existing in (path, pub_path):
            if existing.exists():
                raise InputError(
                    f"'{existing}' already exists; not overwriting a key",
                    hint="choose another --out PATH, or pass --force to replace it",
                )
    try:
        write_private(path, private_key_pem(key, passphrase))
        pub_path.write_text(public_key_line(key, comment) + "\n", encoding="ascii")
    except OSError as exc:
        raise InputError(f"cannot write key to '{exc.filename or path}': {exc.strerror}") from exc
    LOG.info("wrote RSA key %s (%s)", path, fingerprint(public_key_line(key)))
    return path, pub_path


def passphrase_from_env(environ: Mapping[str, str] = os.environ) -> bytes | None:
    """The key passphrase from ``TCUP_KEY_PASSPHRASE`` (never from the command line)."""
    value = environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def load_private_key(path: Path | str, passphrase: bytes | None = None) -> rsa.RSAPrivateKey:
    """Load an RSA private key the way refstack-client does (PEM, PKCS#1 or PKCS#8).

    Every way this can go wrong ends in an ``InputError`` that names the file
    and says how to fix it.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"signing key '{path}' not found", hint=_KEYGEN_HINT) from exc
    except IsADirectoryError as exc:
        raise InputError(f"signing key '{path}' is a directory, not a key file") from exc
    except OSError as exc:
        raise InputError(
            f"cannot read signing key '{path}': {exc.strerror}",
            hint="check the file's permissions (it should be readable by you only: chmod 600)",
        ) from exc

    stripped = data.strip()
    if b"BEGIN OPENSSH PRIVATE KEY" in data:
        raise InputError(
            f"signing key '{path}' is in OpenSSH format, which RefStack tools cannot read",
            hint=f"convert it to PEM in place with `ssh-keygen -p -m PEM -f {path}`",
        )
    if (
        b"BEGIN PUBLIC KEY" in data
        or b"BEGIN RSA PUBLIC KEY" in data
        or b"BEGIN SSH2 PUBLIC KEY" in data
        or stripped.startswith((b"ssh-", b"ecdsa-", b"sk-"))
    ):
        private_hint = path.with_suffix("") if path.suffix == ".pub" else None
        raise InputError(
            f"'{path}' is a public key; signing needs the private key",
            hint=f"use '{private_hint}'" if private_hint else "give the private key file",
        )
    if b"-----BEGIN" not in data:
        raise InputError(
            f"signing key '{path}' is not a PEM private key",
            hint="expected '-----BEGIN PRIVATE KEY-----' or '-----BEGIN RSA PRIVATE KEY-----'; "
            + _KEYGEN_HINT,
        )

    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:
        if passphrase is None:
            raise InputError(
                f"signing key '{path}' is encrypted and no passphrase was given",
                hint=f"set {PASSPHRASE_ENV}, or write an unencrypted copy (refstack-client "
                f"needs one) with `openssl pkey -in {path} -out KEY`",
            ) from exc
        # A passphrase was given for a key that has none: the key is simply usable.
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        if passphrase is not None and b"ENCRYPTED" in data:
            raise InputError(
                f"cannot decrypt signing key '{path}': wrong passphrase",
                hint=f"check {PASSPHRASE_ENV}",
            ) from exc
        raise InputError(
            f"signing key '{path}' is not a valid PEM private key ({exc})", hint=_KEYGEN_HINT
        ) from exc
    except UnsupportedAlgorithm as exc:
        raise InputError(
            f"signing key '{path}' uses an unsupported algorithm", hint=_KEYGEN_HINT
        ) from exc

    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise InputError(
            f"signing key '{path}' is not an RSA key ({kind}); RefStack signatures need RSA",
            hint=_KEYGEN_HINT,
        )
    _check_bits(key.key_size, f"signing key '{path}'")
    return key


def _check_bits(bits: int, what: str) -> None:
    if bits < MIN_KEY_BITS:
        raise InputError(
            f"{what} has {bits} bits; at least {MIN_KEY_BITS} are required, because shorter "
            "RSA keys can be factored and signatures made with them forged",
            hint=_KEYGEN_HINT,
        )


# ------------------------------------------------------------------ public keys


def public_key_line(key: ReceiptKey | rsa.RSAPublicKey, comment: str | None = None) -> str:
    """The OpenSSH public key line, ``ssh-rsa AAAA...`` (``ssh-ed25519 ...`` for a
    receipt key), plus `` comment`` if given."""
    public = key if isinstance(key, rsa.RSAPublicKey) else key.public_key()
    line = public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")
    return f"{line} {comment}" if comment else line


def load_public_key(line: str) -> rsa.RSAPublicKey:
    """Parse an OpenSSH public key line as RefStack does; raises ``SignatureError``."""
    try:
        key = serialization.load_ssh_public_key(line.strip().encode("utf-8"))
    except (ValueError, UnsupportedAlgorithm, UnicodeError, binascii.Error) as exc:
        raise SignatureError(
            "malformed public key: expected an OpenSSH line like 'ssh-rsa AAAA...'"
        ) from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("malformed public key: not an RSA key (RefStack accepts 'ssh-rsa')")
    return key


def _key_blob(line: str) -> bytes:
    fields = line.strip().split()
    if len(fields) < 2:
        raise SignatureError("malformed public key: expected '<type> <base64> [comment]'")
    try:
        return base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("malformed public key: the key data is not base64") from exc


def fingerprint(public_key_line: str) -> str:
    """``SHA256:<unpadded base64>`` of the key blob, as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(_key_blob(public_key_line)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def refstack_key_id(public_key_line: str) -> str:
    """RefStack's lookup key for a registered public key: md5 hex of the decoded blob."""
    return hashlib.md5(_key_blob(public_key_line), usedforsecurity=False).hexdigest()


# -------------------------------------------------------------------- signatures


def sign(body: bytes, key: rsa.RSAPrivateKey) -> str:
    """RSASSA-PKCS1-v1_5 / SHA-256 signature of ``body``, as lowercase hex."""
    return key.sign(body, padding.PKCS1v15(), hashes.SHA256()).hex()


def verify(body: bytes, signature_hex: str, public_key_line: str) -> None:
    """Check a signature in RefStack's order; raise ``SignatureError`` if it fails.

    Order (as RefStack's ``TestResultValidator``): hex decode -> public key
    parse -> (ours) key size -> signature check.
    """
    try:
        signature = binascii.a2b_hex(signature_hex.strip())
    except (binascii.Error, ValueError, TypeError) as exc:
        raise SignatureError("malformed signature: X-Signature must be hexadecimal") from exc
    key = load_public_key(public_key_line)
    if key.key_size < MIN_KEY_BITS:
        raise SignatureError(
            f"weak public key: {key.key_size} bits, at least {MIN_KEY_BITS} are required"
        )
    try:
        key.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise SignatureError(
            "signature verification failed: the body was changed after signing, "
            "or it was signed with another key"
        ) from exc


def self_signature(key: rsa.RSAPrivateKey) -> str:
    """The hex signature over ``b"signature"`` that RefStack's key registration wants."""
    return sign(SELF_SIGNATURE_DATA, key)


# ---------------------------------------------------------------------- receipts

#: the key a server signs receipts with: Ed25519, or RSA on a server made before
ReceiptKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def receipt_algorithm(key: ReceiptKey) -> str:
    """How receipts signed with ``key`` are signed, as the server's key endpoint says it."""
    return "Ed25519" if isinstance(key, ed25519.Ed25519PrivateKey) else "RSASSA-PKCS1-v1_5-SHA256"


def sign_receipt(payload: bytes, key: ReceiptKey) -> str:
    """The hex signature of a receipt's payload: Ed25519, else as :func:`sign`."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(payload).hex()
    return sign(payload, key)


def verify_receipt(payload: bytes, signature_hex: str, public_key_line: str) -> None:
    """Check a receipt's signature against the server's key line; ``SignatureError`` if not."""
    try:
        signature = binascii.a2b_hex(signature_hex.strip())
        key = serialization.load_ssh_public_key(public_key_line.strip().encode("utf-8"))
    except (ValueError, UnsupportedAlgorithm, UnicodeError, binascii.Error, TypeError) as exc:
        raise SignatureError("malformed receipt signature or server key") from exc
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, payload)
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise SignatureError("a receipt key is Ed25519 or RSA")
    except InvalidSignature as exc:
        raise SignatureError(
            "receipt signature verification failed: the receipt was changed, "
            "or another key signed it"
        ) from exc


# ----------------------------------------------------------------- bearer tokens


def bearer_token(
    key: rsa.RSAPrivateKey, openid: str, lifetime: int = DEFAULT_TOKEN_LIFETIME
) -> str:
    """An RS256 JWT with ``user_openid`` and ``exp``, as RefStack's JWTAuthHook accepts."""
    claims = {JWT_OPENID_CLAIM: openid, "exp": int(time.time()) + int(lifetime)}
    pem = private_key_pem(key)
    return jwt.encode(claims, pem, algorithm="RS256")


def unverified_openid(token: str) -> str:
    """The ``user_openid`` claim of a token, unverified: only to find the keys to check it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise SignatureError("bearer token cannot be decoded") from exc
    openid = claims.get(JWT_OPENID_CLAIM)
    if not isinstance(openid, str) or not openid:
        raise SignatureError(f"bearer token has no '{JWT_OPENID_CLAIM}' claim")
    return openid


def verify_bearer_token(
    token: str, public_key_lines: Iterable[str], leeway: int = JWT_LEEWAY_SECONDS
) -> str:
    """Return the token's ``user_openid`` if any of the keys signed it (RS256, ``exp`` required)."""
    openid = unverified_openid(token)
    expired = False
    for line in public_key_lines:
        try:
            public = load_public_key(line)
        except SignatureError:
            LOG.warning("skipping a malformed registered public key for %s", openid)
            continue
        try:
            claims = jwt.decode(
                token,
                key=public,
                algorithms=["RS256"],
                leeway=leeway,
                options={"require": ["exp", JWT_OPENID_CLAIM]},
            )
        except jwt.ExpiredSignatureError:
            expired = True
            continue
        except jwt.InvalidTokenError:
            continue
        return str(claims[JWT_OPENID_CLAIM])
    if expired:
        raise SignatureError("bearer token has expired")
    raise SignatureError("bearer token is not signed by any of the user's public keys")

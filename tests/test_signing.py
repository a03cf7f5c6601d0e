"""tcup.signing: keys, RefStack-compatible signatures, fingerprints, bearer tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcup import signing
from tcup.errors import InputError
from tcup.signing import SignatureError


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return signing.generate_key(2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return signing.generate_key(2048)


@pytest.fixture(scope="module")
def pem_pkcs1(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


# ------------------------------------------------------------- sign / verify


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2048))
def test_round_trip_any_body(key, body):
    line = signing.public_key_line(key)
    sig = signing.sign(body, key)
    assert sig == sig.lower() and len(sig) == 2 * 256
    signing.verify(body, sig, line)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), body=st.binary(min_size=1, max_size=1024))
def test_any_single_byte_flip_fails(key, data, body):
    sig = signing.sign(body, key)
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = bytearray(body)
    tampered[index] ^= flip
    with pytest.raises(SignatureError, match="signature verification failed"):
        signing.verify(bytes(tampered), sig, signing.public_key_line(key))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), body=st.binary(min_size=1, max_size=1024))
def test_any_truncation_fails(key, data, body):
    sig = signing.sign(body, key)
    cut = data.draw(st.integers(0, len(body) - 1))
    with pytest.raises(SignatureError, match="signature verification failed"):
        signing.verify(body[:cut], sig, signing.public_key_line(key))


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=512))
def test_signature_from_another_key_fails(key, other_key, body):
    sig = signing.sign(body, other_key)
    with pytest.raises(SignatureError, match="signature verification failed"):
        signing.verify(body, sig, signing.public_key_line(key))


def test_verify_check_order_and_messages(key):
    body = b'{"cpid": "x"}'
    line = signing.public_key_line(key)
    sig = signing.sign(body, key)
    # Hex is checked before the key, as RefStack does: both bad -> signature message.
    with pytest.raises(SignatureError, match="malformed signature"):
        signing.verify(body, "zz-not-hex", "garbage")
    with pytest.raises(SignatureError, match="malformed public key"):
        signing.verify(body, sig, "ssh-rsa !!!!")
    with pytest.raises(SignatureError, match="malformed public key"):
        signing.verify(body, sig, "")
    ec_line = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    with pytest.raises(SignatureError, match="not an RSA key"):
        signing.verify(body, sig, ec_line)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the weak key under test)
    weak_sig = weak.sign(body, padding.PKCS1v15(), hashes.SHA256()).hex()
    with pytest.raises(SignatureError, match="weak public key: 1024 bits"):
        signing.verify(body, weak_sig, signing.public_key_line(weak))
    # Upper-case hex and a key comment are accepted, as by RefStack.
    signing.verify(body, sig.upper(), line + " user@host")
    assert issubclass(SignatureError, InputError)


def test_refstack_client_signature_verifies_with_ours(key):
    """refstack-client: json.dumps of a dict, PKCS1v15 + SHA256, binascii.b2a_hex."""
    content = {"cpid": "b33dc8a37c8607c6a7612f6296139578", "duration_seconds": 12, "results": []}
    data = json.dumps(content).encode("utf-8")
    signature = binascii.b2a_hex(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    pubkey = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    signing.verify(data, signature.decode("ascii"), pubkey.decode("ascii"))


def test_our_signature_verifies_like_refstack_server(key):
    """RefStack server: a2b_hex, load_ssh_public_key, key.verify over the raw body."""
    body = json.dumps({"cpid": "c", "duration_seconds": 1, "results": [{"name": "t"}]}).encode()
    sig_header = signing.sign(body, key)
    key_header = signing.public_key_line(key)
    server_key = serialization.load_ssh_public_key(key_header.encode("utf-8"))
    server_key.verify(binascii.a2b_hex(sig_header), body, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        server_key.verify(binascii.a2b_hex(sig_header), body + b" ", padding.PKCS1v15(),
                          hashes.SHA256())  # fmt: skip


def test_self_signature_is_over_the_word_signature(key):
    sig = signing.self_signature(key)
    key.public_key().verify(bytes.fromhex(sig), b"signature", padding.PKCS1v15(), hashes.SHA256())


# ------------------------------------------------------------ fingerprints


def test_fingerprint_matches_ssh_keygen(key, tmp_path):
    line = signing.public_key_line(key)
    pub = tmp_path / "k.pub"
    pub.write_text(line + " me@example\n")
    try:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except FileNotFoundError:
        blob = base64.b64decode(line.split()[1])
        expected = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    else:
        expected = out.split()[1]
    assert signing.fingerprint(line) == expected
    assert signing.fingerprint(line + " a comment") == expected


def test_refstack_key_id_is_md5_of_blob(key):
    line = signing.public_key_line(key)
    blob = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()[1]
    )
    assert signing.refstack_key_id(line) == hashlib.md5(base64.b64decode(blob)).hexdigest()
    with pytest.raises(SignatureError, match="malformed public key"):
        signing.refstack_key_id("ssh-rsa")
    with pytest.raises(SignatureError, match="not base64"):
        signing.fingerprint("ssh-rsa ***")


# ---------------------------------------------------------------- key files


def test_write_key_pair_permissions_and_reload(tmp_path):
    key = signing.generate_key(2048)
    priv, pub = signing.write_key_pair(key, tmp_path / "keys" / "tcup_rsa")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert priv.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pub.name == "tcup_rsa.pub"
    assert pub.read_text().strip() == signing.public_key_line(key)
    loaded = signing.load_private_key(priv)
    assert signing.public_key_line(loaded) == signing.public_key_line(key)
    with pytest.raises(InputError, match="already exists"):
        signing.write_key_pair(key, priv)
    priv.chmod(0o644)
    signing.write_key_pair(key, priv, overwrite=True)
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600


def test_refstack_client_can_load_our_key(tmp_path):
    """refstack-client calls load_pem_private_key(data, password=None)."""
    key = signing.generate_key(2048)
    priv, _ = signing.write_key_pair(key, tmp_path / "k")
    loaded = serialization.load_pem_private_key(priv.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)


def test_load_pkcs1_and_encrypted(tmp_path, key, pem_pkcs1):
    p1 = tmp_path / "pkcs1.pem"
    p1.write_bytes(pem_pkcs1)
    assert signing.load_private_key(p1).key_size == 2048
    # A passphrase set for an unencrypted key does no harm.
    assert signing.load_private_key(p1, b"unused").key_size == 2048

    enc = tmp_path / "enc.pem"
    enc.write_bytes(signing.private_key_pem(key, b"s3cret"))
    assert b"ENCRYPTED" in enc.read_bytes()
    assert signing.load_private_key(enc, b"s3cret").key_size == 2048
    with pytest.raises(InputError, match="is encrypted and no passphrase") as info:
        signing.load_private_key(enc)
    assert "TCUP_KEY_PASSPHRASE" in info.value.hint
    with pytest.raises(InputError, match="wrong passphrase"):
        signing.load_private_key(enc, b"nope")


def test_passphrase_from_env():
    assert signing.passphrase_from_env({"TCUP_KEY_PASSPHRASE": "pw"}) == b"pw"
    assert signing.passphrase_from_env({}) is None


def _ssh_keygen(tmp_path, *args: str):
    target = tmp_path / "ssh_key"
    try:
        subprocess.run(
            ["ssh-keygen", "-q", "-N", "", "-f", str(target), *args],
            check=True,
            capture_output=True,
        )
    except FileNotFoundError:
        return None
    return target


def test_openssh_format_key_says_how_to_convert(tmp_path):
    path = _ssh_keygen(tmp_path, "-t", "rsa", "-b", "2048")
    if path is None:  # no ssh-keygen: write the OpenSSH format with cryptography instead
        path = tmp_path / "ssh_key"
        path.write_bytes(
            signing.generate_key(2048).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
        )
    with pytest.raises(InputError, match="OpenSSH format") as info:
        signing.load_private_key(path)
    assert f"ssh-keygen -p -m PEM -f {path}" in info.value.hint


def test_key_errors(tmp_path, key):
    missing = tmp_path / "nope"
    with pytest.raises(InputError, match="not found") as info:
        signing.load_private_key(missing)
    assert "tcup keygen" in info.value.hint

    with pytest.raises(InputError, match="is a directory"):
        signing.load_private_key(tmp_path)

    pub = tmp_path / "id.pub"
    pub.write_text(signing.public_key_line(key) + "\n")
    with pytest.raises(InputError, match="is a public key") as info:
        signing.load_private_key(pub)
    assert str(tmp_path / "id") in info.value.hint

    spki = tmp_path / "spki.pem"
    spki.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(InputError, match="is a public key"):
        signing.load_private_key(spki)

    ec_path = tmp_path / "ec.pem"
    ec_path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(InputError, match=r"is not an RSA key \(EC\); RefStack signatures need RSA"):
        signing.load_private_key(ec_path)

    weak = tmp_path / "weak.pem"
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    weak.write_bytes(
        weak_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(InputError, match="has 1024 bits; at least 2048 are required, because"):
        signing.load_private_key(weak)

    junk = tmp_path / "junk"
    junk.write_text("hello\n")
    with pytest.raises(InputError, match="is not a PEM private key"):
        signing.load_private_key(junk)

    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InputError, match="not a valid PEM private key"):
        signing.load_private_key(broken)


def test_unreadable_key(tmp_path, pem_pkcs1):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(pem_pkcs1)
    with pytest.raises(InputError, match="cannot read signing key .*: Not a directory"):
        signing.load_private_key(not_a_dir / "key.pem")


def test_generate_refuses_weak_size():
    with pytest.raises(InputError, match="1024 bits"):
        signing.generate_key(1024)


# -------------------------------------------------------------- bearer tokens


def test_bearer_token_round_trip(key, other_key):
    token = signing.bearer_token(key, "https://openid.example/alice", lifetime=60)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims["user_openid"] == "https://openid.example/alice"
    assert claims["exp"] > time.time()
    lines = [signing.public_key_line(other_key), signing.public_key_line(key)]
    assert signing.verify_bearer_token(token, lines) == "https://openid.example/alice"
    with pytest.raises(SignatureError, match="not signed by any"):
        signing.verify_bearer_token(token, [signing.public_key_line(other_key)])


def test_bearer_token_expiry_uses_leeway(key):
    line = signing.public_key_line(key)
    recent = signing.bearer_token(key, "me", lifetime=-10)
    assert signing.verify_bearer_token(recent, [line]) == "me"  # within RefStack's 42 s
    old = signing.bearer_token(key, "me", lifetime=-100)
    with pytest.raises(SignatureError, match="expired"):
        signing.verify_bearer_token(old, [line])


def test_bearer_token_refuses_other_algorithms_and_garbage(key):
    line = signing.public_key_line(key)
    hs = jwt.encode({"user_openid": "me", "exp": int(time.time()) + 60}, "k" * 32, "HS256")
    with pytest.raises(SignatureError, match="not signed by any"):
        signing.verify_bearer_token(hs, [line])
    with pytest.raises(SignatureError, match="cannot be decoded"):
        signing.verify_bearer_token("not-a-jwt", [line])
    no_openid = jwt.encode({"exp": int(time.time()) + 60}, signing.private_key_pem(key), "RS256")
    with pytest.raises(SignatureError, match="no 'user_openid'"):
        signing.verify_bearer_token(no_openid, [line])


# ------------------------------------------- the real RefStack server's checks

REFSTACK_VERSION = "2.1.0"

# Run inside a virtualenv with refstack==2.1.0: feeds RefStack's own validators and its
# JWT hook the requests tcup makes, and reports what RefStack says about each.
REFSTACK_CHECKS = r"""
import json, sys
from types import SimpleNamespace
from refstack.api import exceptions as api_exc
from refstack.api import utils, validators

case = json.load(sys.stdin)
out = {}

def attempt(name, fn):
    try:
        out[name] = ["ok", fn()]
    except api_exc.ValidationError as exc:
        out[name] = ["refused", exc.title]

def request(body, headers):
    return SimpleNamespace(body=body.encode("utf-8"), headers=headers)

results = validators.TestResultValidator()
for name, body in case["bodies"].items():
    attempt(name, lambda b=body: results.validate(request(b, case["headers"])))
attempt("pubkey", lambda: validators.PubkeyValidator().validate(
    request(json.dumps(case["pubkey"]), {})))
fmt, blob = case["headers"]["X-Public-Key"].split()[:2]
utils.db.get_user_pubkeys = lambda openid: [{"format": fmt, "pubkey": blob}]
for name in ("token", "foreign_token"):
    attempt(name, lambda n=name: utils.decode_token(
        SimpleNamespace(headers={"Authorization": "Bearer " + case[n]})))
print(json.dumps(out))
"""


def refstack_python() -> Path:
    """Python of a cached virtualenv with the RefStack server installed (made on first use)."""
    cache = Path(os.environ.get("TCUP_DEV_CACHE") or Path.home() / ".cache" / "tcup-dev")
    venv = cache / f"refstack-{REFSTACK_VERSION}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"refstack=={REFSTACK_VERSION}"],
            check=True,
        )
    return python


@pytest.mark.integration
def test_refstack_server_accepts_our_signatures_keys_and_tokens(key, other_key):
    body = json.dumps(
        {
            "cpid": "b33dc8a37c8607c6a7612f6296139578",
            "duration_seconds": 3,
            "results": [{"name": "tempest.api.compute.test_x.T.test_y", "uuid": "u"}],
        }
    )
    case = {
        "bodies": {
            "signed": body,
            "tampered": body.replace('"duration_seconds": 3', '"duration_seconds": 4'),
        },
        "headers": {
            "X-Signature": signing.sign(body.encode(), key),
            "X-Public-Key": signing.public_key_line(key),
        },
        "pubkey": {
            "raw_key": signing.public_key_line(key, "me@host"),
            "self_signature": signing.self_signature(key),
        },
        "token": signing.bearer_token(key, "https://openid.example/alice", lifetime=60),
        "foreign_token": signing.bearer_token(other_key, "https://openid.example/alice"),
    }
    done = subprocess.run(
        [str(refstack_python()), "-c", REFSTACK_CHECKS],
        input=json.dumps(case),
        capture_output=True,
        text=True,
        check=True,
    )
    verdicts = json.loads(done.stdout.strip().splitlines()[-1])
    assert verdicts["signed"] == ["ok", None]
    assert verdicts["tampered"] == ["refused", "Signature verification failed"]
    assert verdicts["pubkey"] == ["ok", None]
    assert verdicts["token"][0] == "ok"
    assert verdicts["token"][1]["user_openid"] == "https://openid.example/alice"
    assert verdicts["foreign_token"][0] == "refused"

"""``tcup sign KEY``: what to register with a RefStack server for KEY."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from tcup import signing
from tcup.errors import ExitCode

NAME = "sign"
HELP = "print a key's public key and self-signature, to register it with the server"
DESCRIPTION = """\
Print the OpenSSH public key of KEY and its self-signature (RSA PKCS#1 v1.5,
SHA-256 over the word "signature", hex), which RefStack asks for when you add
a key to your profile (like `refstack-client sign KEY`).  --json prints the
body of POST /v1/profile/pubkeys instead.  The key passphrase, if any, comes
from TCUP_KEY_PASSPHRASE.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", type=Path, metavar="KEY", help="RSA private key (PEM)")
    parser.add_argument(
        "--json", action="store_true", help="print {raw_key, self_signature} as JSON"
    )


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return sign_key(stdout, args.key, as_json=args.json)


def registration_key_line(key_path: Path, key: signing.rsa.RSAPrivateKey) -> str:
    """``KEY.pub`` (with its comment) if it is the same key, else the derived line."""
    derived = signing.public_key_line(key)
    pub = key_path.with_name(key_path.name + ".pub")
    try:
        line = pub.read_text(encoding="ascii").strip()
    except (OSError, UnicodeError):
        return derived
    fields = line.split()
    if len(fields) >= 2 and fields[:2] == derived.split()[:2]:
        return line
    return derived


def sign_key(stdout: TextIO, key_path: Path, *, as_json: bool = False) -> int:
    """Print the public key and the self-signature of ``key_path``."""
    key = signing.load_private_key(key_path, signing.passphrase_from_env())
    line = registration_key_line(Path(key_path), key)
    signature = signing.self_signature(key)
    if as_json:
        print(json.dumps({"raw_key": line, "self_signature": signature}), file=stdout)
    else:
        print("Public key:", file=stdout)
        print(line, file=stdout)
        print("Self signature:", file=stdout)
        print(signature, file=stdout)
        print(f"Fingerprint: {signing.fingerprint(line)}", file=stdout)
    return int(ExitCode.QUALIFIES)

"""``tcup keygen``: create the RSA key pair that signs uploads."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from tcup import settings, signing
from tcup.errors import ExitCode, InputError

NAME = "keygen"
HELP = "create an RSA key pair for signing uploads"
DESCRIPTION = """\
Write a new RSA private key (PEM, PKCS#8, mode 0600) to --out and its OpenSSH
public key line to --out.pub.  The private key is unencrypted by default, so
refstack-client can use it too; --encrypt protects it with the passphrase in
TCUP_KEY_PASSPHRASE (tcup reads the same variable when signing).

Register the public key with the server before uploading with it:
`tcup sign KEY` prints the key and the self-signature RefStack asks for.
"""


def default_key_path() -> Path:
    """``<config dir>/tcup/tcup_rsa``, next to tcup.toml."""
    return settings.default_config_path().parent / "tcup_rsa"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bits",
        type=int,
        default=signing.DEFAULT_KEY_BITS,
        help=f"key size (default {signing.DEFAULT_KEY_BITS}, at least {signing.MIN_KEY_BITS})",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PATH",
        help=f"private key file; the public key goes to PATH.pub (default {default_key_path()})",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing key")
    parser.add_argument(
        "--encrypt",
        action="store_true",
        help=f"encrypt the private key with ${signing.PASSPHRASE_ENV}",
    )
    parser.add_argument("--comment", help="comment for the public key line (default: none)")


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return keygen(
        stdout,
        out=args.out or default_key_path(),
        bits=args.bits,
        force=args.force,
        encrypt=args.encrypt,
        comment=args.comment,
    )


def keygen(
    stdout: TextIO,
    *,
    out: Path,
    bits: int = signing.DEFAULT_KEY_BITS,
    force: bool = False,
    encrypt: bool = False,
    comment: str | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    """Create and write the key pair; print where it went and what to do next."""
    passphrase = None
    if encrypt:
        passphrase = signing.passphrase_from_env(os.environ if environ is None else environ)
        if not passphrase:
            raise InputError(
                f"--encrypt needs a passphrase in {signing.PASSPHRASE_ENV}",
                hint=f"export {signing.PASSPHRASE_ENV}=... (it is never read from the command "
                "line, where other users could see it)",
            )
    key = signing.generate_key(bits)
    private, public = signing.write_key_pair(
        key, Path(out), passphrase=passphrase, overwrite=force, comment=comment
    )
    line = signing.public_key_line(key)
    state = "encrypted" if passphrase else "unencrypted"
    print(f"Private key: {private} (RSA {bits} bits, PKCS#8 PEM, {state}, mode 0600)", file=stdout)
    print(f"Public key:  {public}", file=stdout)
    print(f"Fingerprint: {signing.fingerprint(line)}", file=stdout)
    print(
        f"Next: register the public key with the server (`tcup sign {private}` prints it "
        f"with its self-signature), then upload with --key {private} or TCUP_KEY={private}",
        file=stdout,
    )
    return int(ExitCode.QUALIFIES)

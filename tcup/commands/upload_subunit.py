"""``tcup upload-subunit``: build a RefStack body from a subunit stream and upload it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from tcup import results as res
from tcup import upload as up
from tcup.cloud import cpid_from_url
from tcup.commands.upload import (
    add_server_arguments,
    load_key,
    print_receipts,
    resolve_url,
    server_options,
)
from tcup.errors import ExitCode, InputError, UploadError

NAME = "upload-subunit"
HELP = "upload the passed tests of a subunit stream (like refstack-client upload-subunit)"
DESCRIPTION = """\
Read a subunit stream (v2 as stestr and Tempest write it, or v1), build the
RefStack upload body from its passed tests (names without [attributes], uuid
from the id- attribute, duration 0, as refstack-client does), and upload it.

The cloud provider id is --cpid, or, as refstack-client computes it when it
cannot ask Keystone, the md5 of the host name of --keystone-endpoint.
--save FILE keeps the exact body that was signed and sent.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("subunit", type=Path, metavar="SUBUNIT", help="subunit stream file")
    cpid = parser.add_mutually_exclusive_group(required=True)
    cpid.add_argument("--cpid", metavar="CPID", help="the cloud provider id to report")
    cpid.add_argument(
        "--keystone-endpoint",
        metavar="URL",
        help="the cloud's identity URL; cpid = md5 of its host name (refstack-client's rule)",
    )
    parser.add_argument("--save", type=Path, metavar="FILE", help="also write the body here")
    add_server_arguments(parser)


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return upload_subunit(
        stdout,
        args.subunit,
        cpid=args.cpid,
        keystone_endpoint=args.keystone_endpoint,
        save=args.save,
        **server_options(args),
    )


def subunit_body(data: bytes, source: str, cpid: str) -> bytes:
    """The exact upload bytes for a subunit stream: passed tests, duration 0."""
    results = res.read_subunit(data, source)
    body = res.dump_refstack(res.refstack_body(results, cpid, 0))
    res.read_refstack(body, f"the passed tests of '{source}'")
    return body


def upload_subunit(
    stdout: TextIO,
    subunit: Path,
    *,
    url: str | None,
    cpid: str | None = None,
    keystone_endpoint: str | None = None,
    save: Path | None = None,
    key_path: Path | None = None,
    insecure: bool = False,
    ca_bundle: Path | None = None,
    retries: int = up.DEFAULT_RETRIES,
    timeout: float = up.DEFAULT_TIMEOUT,
    backoff: float = up.DEFAULT_BACKOFF,
) -> int:
    """Build the body from ``subunit`` and upload it; 0 on success (errors raise)."""
    if not cpid:
        if not keystone_endpoint:
            raise InputError("no cloud provider id", hint="pass --cpid or --keystone-endpoint")
        cpid = cpid_from_url(keystone_endpoint)
    url = resolve_url(url)
    key = load_key(key_path)
    try:
        data = Path(subunit).read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"subunit stream '{subunit}' not found") from exc
    except OSError as exc:
        raise InputError(f"cannot read subunit stream '{subunit}': {exc.strerror}") from exc
    body = subunit_body(data, str(subunit), cpid)
    if save is not None:
        try:
            Path(save).write_bytes(body)
        except OSError as exc:
            raise InputError(f"cannot write '{save}': {exc.strerror}") from exc
    try:
        receipt = up.upload(
            body,
            url,
            key,
            insecure=insecure,
            ca_bundle=ca_bundle,
            retries=retries,
            timeout=timeout,
            backoff=backoff,
        )
    except UploadError as exc:
        retry = (
            up.retry_command(save, url, key_path)
            if save is not None
            else "the same command (the subunit file is unchanged)"
        )
        raise UploadError(
            exc.message, hint=(f"{exc.hint}; then " if exc.hint else "") + f"retry with: {retry}"
        ) from exc
    print_receipts(stdout, [receipt])
    return int(ExitCode.QUALIFIES)

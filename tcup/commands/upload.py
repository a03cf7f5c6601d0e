"""``tcup upload``: sign and upload a results.json, or retry a run's pending upload."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, TextIO

from tcup import signing
from tcup import upload as up
from tcup.errors import ExitCode, InputError, UploadError

NAME = "upload"
HELP = "sign and upload results to a RefStack-compatible server, or retry a pending upload"
DESCRIPTION = """\
Upload RESULTS to a RefStack-compatible server (POST <url>/v1/results).

RESULTS is either a results.json (a RefStack upload body, sent byte for byte
as it is, so a signature made elsewhere stays valid) or a run's output
directory: then a pending upload in <dir>/outbox/ is retried, or else the run
is uploaded and the server's receipt written to <dir>/upload.json.  A TCUP
server (one that answers GET <url>/v1/tcup/server-key) gets the whole run as
one signed submission: results.json, results.subunit, results-extended.json
and manifest.json, so it scores the guideline and target the run used; any
other server gets <dir>/results.json.  A failed directory upload is kept in
<dir>/outbox/.

With --key the body is signed (RSA, PKCS#1 v1.5, SHA-256) and the server
learns who uploaded it; the public key must be registered with the server
first (`tcup sign KEY` prints what to register).  Without --key the upload is
anonymous, which a server may refuse.  The key passphrase, if any, comes from
TCUP_KEY_PASSPHRASE.  Connection errors, timeouts and 5xx answers are retried
with exponential backoff; other refusals are reported in the server's words.
"""


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every uploading command shares."""
    group = parser.add_argument_group("server")
    group.add_argument(
        "--url",
        metavar="URL",
        help="the server's API root, e.g. https://refstack.openstack.org/api "
        "(default: $TCUP_URL, else $REFSTACK_URL)",
    )
    group.add_argument(
        "-i",
        "--key",
        type=Path,
        metavar="KEY",
        help="RSA private key (PEM) to sign with; without it the upload is anonymous",
    )
    group.add_argument(
        "-k", "--insecure", action="store_true", help="do not verify TLS certificates (test only)"
    )
    group.add_argument("--ca-bundle", type=Path, metavar="FILE", help="CA bundle to verify TLS")
    group.add_argument(
        "--retries",
        type=int,
        default=up.DEFAULT_RETRIES,
        metavar="N",
        help=f"retries after connection errors, timeouts, 5xx (default {up.DEFAULT_RETRIES})",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=up.DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for the server per attempt (default {up.DEFAULT_TIMEOUT:g})",
    )
    group.add_argument(
        "--backoff",
        type=float,
        default=up.DEFAULT_BACKOFF,
        metavar="S",
        help=f"first retry delay, doubled each time (default {up.DEFAULT_BACKOFF:g})",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, metavar="RESULTS", help="results.json or run dir")
    parser.add_argument(
        "--force",
        action="store_true",
        help="upload a run directory again even if upload.json says it was uploaded",
    )
    add_server_arguments(parser)


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``upload_results`` that ``add_server_arguments`` defines."""
    return {
        "url": args.url,
        "key_path": args.key,
        "insecure": args.insecure,
        "ca_bundle": args.ca_bundle,
        "retries": args.retries,
        "timeout": args.timeout,
        "backoff": args.backoff,
    }


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    return upload_results(stdout, args.results, force=args.force, **server_options(args))


def resolve_url(url: str | None) -> str:
    """--url, else $REFSTACK_URL (as refstack-client); an input error if neither."""
    url = url or os.environ.get("REFSTACK_URL")
    if not url:
        raise InputError(
            "no server to upload to",
            hint="pass --url API_ROOT (e.g. https://refstack.openstack.org/api) or set TCUP_URL",
        )
    up.results_endpoint(url)  # refuse a malformed URL before anything else
    return url


def load_key(key_path: Path | None) -> Any:
    """The signing key, or None for an anonymous upload."""
    if key_path is None:
        return None
    return signing.load_private_key(key_path, signing.passphrase_from_env())


def print_receipts(stdout: TextIO, receipts: list[up.Receipt]) -> None:
    for receipt in receipts:
        print("Test results uploaded!", file=stdout)
        print(f"Test id: {receipt.test_id}", file=stdout)
        print(f"URL: {receipt.url or '(the server sent no URL)'}", file=stdout)


def upload_results(
    stdout: TextIO,
    results: Path,
    *,
    url: str | None,
    key_path: Path | None = None,
    insecure: bool = False,
    ca_bundle: Path | None = None,
    retries: int = up.DEFAULT_RETRIES,
    timeout: float = up.DEFAULT_TIMEOUT,
    backoff: float = up.DEFAULT_BACKOFF,
    force: bool = False,
) -> int:
    """Upload a results.json or a run directory; 0 on success (errors raise)."""
    url = resolve_url(url)
    key = load_key(key_path)
    options = {
        "insecure": insecure,
        "ca_bundle": ca_bundle,
        "retries": retries,
        "timeout": timeout,
        "backoff": backoff,
    }
    results = Path(results)
    if results.is_dir():
        receipts = up.upload_run(results, url, key, key_path=key_path, force=force, **options)
        print_receipts(stdout, receipts)
        print(f"Receipt: {results / up.RECEIPT_FILE}", file=stdout)
        return int(ExitCode.QUALIFIES)

    try:
        body = results.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(
            f"results '{results}' not found",
            hint="give a results.json or the output directory of `tcup run`",
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot read results '{results}': {exc.strerror}") from exc
    up.validate_body(body, str(results))
    try:
        receipt = up.upload(body, url, key, **options)
    except UploadError as exc:
        retry = up.retry_command(results, url, key_path)
        raise UploadError(
            f"{exc.message}. '{results}' is unchanged",
            hint=(f"{exc.hint}; then " if exc.hint else "") + f"retry with: {retry}",
        ) from exc
    print_receipts(stdout, [receipt])
    return int(ExitCode.QUALIFIES)

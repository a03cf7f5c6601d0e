"""Upload results to a RefStack-compatible server: sign, POST, retry, outbox.

Wire facts (``../shared/docs/refstack-protocol.md`` §2, §4): ``POST <api>/v1/results``
with the exact body bytes, ``X-Signature`` (hex) and ``X-Public-Key`` (OpenSSH
line); success is 201 ``{"test_id", "url"}``; errors are ``{"title", "code"}``
or ``{"code", "title", "detail"}``.  We add an ``Idempotency-Key`` header
(sha256 of the body by default): RefStack ignores it, the TCUP server uses it
so a retried upload is stored once.

A TCUP server (it answers ``GET <api>/v1/tcup/server-key``; asked once per
URL) takes a run directory whole: ``upload_run`` then sends results.json,
results.subunit, results-extended.json and manifest.json as one signed
submission (``tcup.submission``) to ``POST <api>/v1/tcup/results``, so the
server scores the run with the guideline, target and add-ons of the signed
manifest.  Any other server gets the RefStack body as refstack-client sends it.

A failed upload never loses results: ``upload_run`` keeps the exact bytes under
``<out>/outbox/`` and the error names the command that retries it.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import random
import re
import shlex
import shutil
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3

from tcup import __version__
from tcup.errors import InputError, UploadError
from tcup.results import read_refstack
from tcup.signing import fingerprint, public_key_line, sign
from tcup.submission import PART_FILES, Submission

LOG = logging.getLogger(__name__)

OUTBOX_DIR = "outbox"
PARTS_DIR = "parts"  # in an outbox entry: the run's files, for a TCUP server
SENT_DIR = "sent"
RECEIPT_FILE = "upload.json"
RESULTS_FILE = "results.json"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 1.0
DEFAULT_MAX_DELAY = 60.0
_RETRY_STATUSES = frozenset({429})  # plus every 5xx
_API_ROOT_EXAMPLE = "https://refstack.openstack.org/api"
PROBE_PATH = "tcup/server-key"  # under <api>/v1: answered by a TCUP server only
SUBMISSION_PATH = "tcup/results"
FORM_REFSTACK = "refstack"
FORM_TCUP = "tcup"
_server_forms: dict[str, str] = {}  # api root (.../v1) -> FORM_*, probed once per process
_sleep = time.sleep  # the one place upload waits; tests replace it to record the delays


@dataclass(frozen=True)
class Signature:
    """The two signature headers for one exact body; public values only."""

    signature: str  # lowercase hex, RSASSA-PKCS1-v1_5 SHA-256
    public_key: str  # OpenSSH line, "ssh-rsa AAAA..."

    @classmethod
    def of(cls, body: bytes, key: Any) -> Signature:
        return cls(signature=sign(body, key), public_key=public_key_line(key))

    def headers(self) -> dict[str, str]:
        return {"X-Signature": self.signature, "X-Public-Key": self.public_key}

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)


@dataclass(frozen=True)
class Receipt:
    """What the server answered to an accepted upload."""

    test_id: str
    url: str | None
    status: int
    endpoint: str
    idempotency_key: str
    body_sha256: str
    attempts: int
    uploaded_at: str
    response: dict[str, Any] = field(default_factory=dict)
    sha256: str | None = None  # the server's own digest of what it stored, if it says
    receipt_signature: str | None = None  # the server's signature over its receipt, if any
    key_fingerprint: str | None = None
    form: str = FORM_REFSTACK  # what was sent: the RefStack body, or the whole run (tcup)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class UploadFailed(UploadError):
    """An upload that did not succeed, with how far it got (for the outbox)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        attempts: int = 0,
        status: int | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.attempts = attempts
        self.status = status


# ------------------------------------------------------------------ addressing


def results_endpoint(url: str) -> str:
    """``<api root>/v1/results`` from an API root, a ``.../v1`` or a ``.../v1/results`` URL."""
    raw = (url or "").strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"server URL '{url}' is not an http(s) URL",
            hint=f"give the API root, e.g. --url {_API_ROOT_EXAMPLE}",
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1/results"):
        path = path[: -len("/results")]
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path + "/results", "", ""))


def api_root(url: str) -> str:
    """``<api root>/v1`` for any URL ``results_endpoint`` accepts."""
    return results_endpoint(url).removesuffix("/results")


def submission_endpoint(url: str) -> str:
    """``<api root>/v1/tcup/results``: where a TCUP server takes a whole run."""
    return f"{api_root(url)}/{SUBMISSION_PATH}"


def _verify_option(insecure: bool, ca_bundle: Path | str | None) -> bool | str:
    if ca_bundle:
        if not Path(ca_bundle).is_file():
            raise InputError(f"CA bundle '{ca_bundle}' not found", hint="give a PEM file of CAs")
        return str(ca_bundle)
    if insecure:
        LOG.warning("TLS certificate verification is disabled (--insecure)")
        return False
    return True


def server_form(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_delay: float = DEFAULT_MAX_DELAY,
    insecure: bool = False,
    ca_bundle: Path | str | None = None,
) -> str:
    """``FORM_TCUP`` if ``url`` is a TCUP server, else ``FORM_REFSTACK`` (asked once per URL).

    A TCUP server answers ``GET <api>/v1/tcup/server-key`` with its receipt
    key; RefStack answers 404.  No answer at all (or 5xx, 429, after the
    retries) is an ``UploadFailed``, not a guess: the run is kept for a retry.
    """
    root = api_root(url)
    if root in _server_forms:
        return _server_forms[root]
    verify = _verify_option(insecure, ca_bundle)
    probe = f"{root}/{PROBE_PATH}"
    attempts = 0
    while True:
        attempts += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                response = requests.get(
                    probe,
                    headers={"Accept": "application/json", "User-Agent": f"tcup/{__version__}"},
                    timeout=timeout,
                    verify=verify,
                    allow_redirects=False,
                )
        except requests.exceptions.SSLError as exc:
            raise UploadFailed(
                f"TLS connection to {root} failed: {_reason(exc)}",
                hint="if the server uses a private CA, pass --ca-bundle FILE "
                "(or, for a test server only, --insecure)",
                attempts=attempts,
            ) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            error, status, retry_after = f"cannot reach {root}: {_reason(exc)}", None, None
        else:
            status = response.status_code
            if not (status in _RETRY_STATUSES or (status >= 500 and status != 501)):
                break
            error = f"server answered {status} to {probe}: {_server_words(response)}"
            retry_after = _retry_after(response)
        if attempts > retries:
            raise UploadFailed(
                f"{error} (after {attempts} attempt(s))",
                hint="check that the server is reachable and up",
                attempts=attempts,
                status=status,
            )
        _sleep(_delay(attempts, backoff, retry_after, max_delay))
    form = FORM_REFSTACK
    if status == 200:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("public_key"), str):
            form = FORM_TCUP
    LOG.info("%s is a %s server", root, "TCUP" if form == FORM_TCUP else "RefStack")
    _server_forms[root] = form
    return form


def idempotency_key_for(body: bytes) -> str:
    """The default Idempotency-Key: sha256 of the body, so the same file gives the same key."""
    return hashlib.sha256(body).hexdigest()


# ---------------------------------------------------------------------- upload


def upload(
    body: bytes,
    url: str,
    key: Any = None,
    *,
    signature: Signature | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_delay: float = DEFAULT_MAX_DELAY,
    idempotency_key: str | None = None,
    insecure: bool = False,
    ca_bundle: Path | str | None = None,
) -> Receipt:
    """POST ``body`` (unchanged) to ``<url>/v1/results``; return the server's receipt.

    ``key`` (an RSA private key) signs the body; alternatively ``signature``
    carries headers made elsewhere for these exact bytes; with neither the
    upload is anonymous.  Connection errors, timeouts, 429 and 5xx are retried
    ``retries`` times with exponential backoff and jitter (honouring
    ``Retry-After`` up to ``max_delay``); other answers are final.
    """
    endpoint = results_endpoint(url)
    if key is not None:
        signature = Signature.of(body, key)
    return _post(
        endpoint,
        body,
        "application/json",
        body,
        signature,
        idempotency_key or idempotency_key_for(body),
        FORM_REFSTACK,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        max_delay=max_delay,
        insecure=insecure,
        ca_bundle=ca_bundle,
    )


def upload_submission(
    submission: Submission,
    url: str,
    key: Any = None,
    *,
    signature: Signature | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    max_delay: float = DEFAULT_MAX_DELAY,
    idempotency_key: str | None = None,
    insecure: bool = False,
    ca_bundle: Path | str | None = None,
) -> Receipt:
    """POST a whole run to a TCUP server's ``<url>/v1/tcup/results``; return its receipt.

    The signature (``key``, or ``signature`` made for the envelope) covers the
    envelope, which lists the sha256 of every part; retries as ``upload``.
    """
    endpoint = submission_endpoint(url)
    if key is not None:
        signature = Signature.of(submission.envelope, key)
    body, content_type = submission.multipart()
    return _post(
        endpoint,
        body,
        content_type,
        submission.envelope,
        signature,
        idempotency_key or submission.digest,
        FORM_TCUP,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        max_delay=max_delay,
        insecure=insecure,
        ca_bundle=ca_bundle,
    )


def _post(
    endpoint: str,
    body: bytes,
    content_type: str,
    signed: bytes,
    signature: Signature | None,
    idem: str,
    form: str,
    *,
    timeout: float,
    retries: int,
    backoff: float,
    max_delay: float,
    insecure: bool,
    ca_bundle: Path | str | None,
) -> Receipt:
    """POST ``body`` with retries; ``signed`` is what ``signature`` covers."""
    if retries < 0:
        raise InputError(f"retries must be 0 or more, not {retries}")
    verify = _verify_option(insecure, ca_bundle)
    headers = {
        "Content-Type": content_type,
        "Accept": "application/json",
        "User-Agent": f"tcup/{__version__}",
        "Idempotency-Key": idem,
    }
    key_fp = None
    if signature is not None:
        headers.update(signature.headers())
        key_fp = signature.fingerprint
    LOG.info(
        "uploading %d bytes to %s (%s)",
        len(body),
        endpoint,
        f"signed with key {key_fp}" if key_fp else "unsigned",
    )

    attempts = 0
    last_error = ""
    last_status: int | None = None
    with requests.Session() as session, warnings.catch_warnings():
        if verify is False:  # said once above, not once per request
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        while True:
            attempts += 1
            retry_after: float | None = None
            try:
                response = session.post(
                    endpoint,
                    data=body,
                    headers=headers,
                    timeout=timeout,
                    verify=verify,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                raise UploadFailed(
                    f"TLS connection to {endpoint} failed: {_reason(exc)}",
                    hint="if the server uses a private CA, pass --ca-bundle FILE "
                    "(or, for a test server only, --insecure)",
                    attempts=attempts,
                ) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                kind = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
                last_error = f"{kind}: {_reason(exc)}"
                last_status = None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return _receipt(response, endpoint, idem, signed, attempts, key_fp, form)
                last_status = status
                last_error = f"server answered {status}: {_server_words(response)}"
                if not (status >= 500 or status in _RETRY_STATUSES):
                    raise _refusal(response, endpoint, attempts)
                retry_after = _retry_after(response)
            if attempts > retries:
                break
            delay = _delay(attempts, backoff, retry_after, max_delay)
            LOG.warning(
                "upload attempt %d of %d %s; retrying in %.2fs",
                attempts,
                retries + 1,
                last_error,
                delay,
            )
            _sleep(delay)

    raise UploadFailed(
        f"upload to {endpoint} failed after {attempts} attempt(s): {last_error}",
        hint="check that the server is reachable and up",
        attempts=attempts,
        status=last_status,
    )


def _delay(attempt: int, backoff: float, retry_after: float | None, max_delay: float) -> float:
    """Exponential backoff with jitter (half fixed, half random), at least Retry-After."""
    base = backoff * (2 ** (attempt - 1))
    delay = base / 2 + random.uniform(0, base / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return max(0.0, min(delay, max_delay))


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _reason(exc: Exception) -> str:
    """The useful words of a requests/urllib3 error, without connection object reprs."""
    inner: Any = exc.args[0] if exc.args else exc
    inner = getattr(inner, "reason", inner)  # urllib3's MaxRetryError wraps the cause
    text = str(inner)
    text = re.sub(r"^(<[^>]*>|\w*Connection(Pool)?\([^)]*\)): ", "", text)
    text = text.removeprefix("Failed to establish a new connection: ")
    text = re.sub(r"\[Errno -?\d+\] ", "", text)
    return text.strip() or type(exc).__name__


def _server_words(response: requests.Response) -> str:
    """The server's own message: ``detail`` if given, else ``title``, else the text."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        detail = data.get("detail")
        title = data.get("title") or data.get("message")
        words = detail or title
        if isinstance(words, str) and words.strip():
            return words.strip()
    text = " ".join(response.text.split())
    return text[:200] if text else (response.reason or "no message")


def _refusal(response: requests.Response, endpoint: str, attempts: int) -> UploadFailed:
    status = response.status_code
    words = _server_words(response)
    lowered = words.lower()
    hint = None
    if 300 <= status < 400:
        location = response.headers.get("Location", "?")
        return UploadFailed(
            f"server redirected the upload ({status}) to {location}",
            hint="give --url the final API root (often https:// instead of http://)",
            attempts=attempts,
            status=status,
        )
    if status == 401 and "key not found" in lowered:
        hint = (
            "register your public key with the server first: `tcup sign KEY` prints the "
            "key and its self-signature to add to your profile"
        )
    elif status == 401 and "anonymous" in lowered:
        hint = "this server only takes signed uploads: pass --key KEY (a registered RSA key)"
    elif "signature verification failed" in lowered:
        hint = "the file was changed after signing, or the signature belongs to another key"
    elif "schema" in lowered or "malformed request" in lowered:
        hint = "the file is not a RefStack results body (cpid, duration_seconds, results)"
    elif status in (404, 405):
        hint = f"is --url the server's API root? e.g. {_API_ROOT_EXAMPLE}"
    elif status == 413:
        hint = "the server has a size limit for uploads"
    return UploadFailed(
        f"server refused the upload ({status}): {words}",
        hint=hint,
        attempts=attempts,
        status=status,
    )


def _receipt(
    response: requests.Response,
    endpoint: str,
    idem: str,
    body: bytes,
    attempts: int,
    key_fp: str | None,
    form: str = FORM_REFSTACK,
) -> Receipt:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("test_id"), str):
        raise UploadFailed(
            f"server answered {response.status_code} but not with a RefStack receipt "
            "(no 'test_id'); the upload may or may not have been stored",
            hint=f"is --url the server's API root? e.g. {_API_ROOT_EXAMPLE}",
            attempts=attempts,
            status=response.status_code,
        )
    body_sha = hashlib.sha256(body).hexdigest()
    server_sha = data.get("sha256") if isinstance(data.get("sha256"), str) else None
    if server_sha and server_sha.lower() != body_sha:
        LOG.warning("server's sha256 %s differs from the uploaded body's %s", server_sha, body_sha)
    receipt_sig = data.get("receipt_signature")
    receipt = Receipt(
        test_id=data["test_id"],
        url=data.get("url") if isinstance(data.get("url"), str) else None,
        status=response.status_code,
        endpoint=endpoint,
        idempotency_key=idem,
        body_sha256=body_sha,
        attempts=attempts,
        uploaded_at=_now(),
        response=data,
        sha256=server_sha,
        receipt_signature=receipt_sig if isinstance(receipt_sig, str) else None,
        key_fingerprint=key_fp,
        form=form,
    )
    LOG.info("uploaded: test id %s after %d attempt(s)", receipt.test_id, attempts)
    return receipt


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------- outbox


@dataclass(frozen=True)
class OutboxEntry:
    """One pending upload kept on disk: the exact body and how to send it."""

    path: Path  # the entry's directory
    url: str | None
    created: str
    attempts: int
    last_error: str | None
    idempotency_key: str
    signature: Signature | None
    #: the whole run, for a TCUP server, and the signature of its envelope
    submission: Submission | None = None
    envelope_signature: Signature | None = None

    @property
    def body_path(self) -> Path:
        return self.path / "body.json"


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_json(path: Path, data: dict[str, Any]) -> None:
    _atomic_write(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def save_outbox(
    out_dir: Path,
    body: bytes,
    url: str | None,
    *,
    signature: Signature | None = None,
    attempts: int = 0,
    error: str | None = None,
    idempotency_key: str | None = None,
    submission: Submission | None = None,
    envelope_signature: Signature | None = None,
) -> OutboxEntry:
    """Keep ``body`` (byte for byte) and its metadata under ``<out>/outbox/<id>/``.

    With ``submission`` (the whole run) its parts are kept too, under
    ``parts/``, so that a retry can send the run to a TCUP server; the
    envelope is rebuilt from them byte for byte, so ``envelope_signature``
    stays valid.  The entry id comes from the body's sha256, so saving the
    same body again updates the one entry (attempts add up) instead of
    queueing a duplicate.
    """
    digest = idempotency_key_for(body)
    entry_dir = Path(out_dir) / OUTBOX_DIR / digest[:16]
    meta_path = entry_dir / "meta.json"
    previous: dict[str, Any] = {}
    try:
        entry_dir.mkdir(parents=True, exist_ok=True)
        if meta_path.is_file():
            previous = json.loads(meta_path.read_text(encoding="utf-8"))
        _atomic_write(entry_dir / "body.json", body)
        if submission is not None:
            (entry_dir / PARTS_DIR).mkdir(exist_ok=True)
            for name, data in submission.parts.items():
                _atomic_write(entry_dir / PARTS_DIR / name, data)
        envelope_sig = envelope_signature or (
            Signature(previous["envelope_signature"], previous["public_key"])
            if previous.get("envelope_signature") and previous.get("public_key")
            else None
        )
        meta = {
            "url": url or previous.get("url"),
            "created": previous.get("created") or _now(),
            "updated": _now(),
            "attempts": int(previous.get("attempts", 0)) + attempts,
            "last_error": error,
            "idempotency_key": idempotency_key or previous.get("idempotency_key") or digest,
            "body_sha256": digest,
            "signature": signature.signature if signature else previous.get("signature"),
            "public_key": signature.public_key if signature else previous.get("public_key"),
            "envelope_signature": envelope_sig.signature if envelope_sig else None,
        }
        if envelope_sig is not None and meta["public_key"] is None:
            meta["public_key"] = envelope_sig.public_key
        _write_json(meta_path, meta)
    except (OSError, ValueError) as exc:
        raise UploadError(
            f"cannot keep the pending upload in '{entry_dir}': {exc}",
            hint="the results file itself is unchanged; retry with `tcup upload FILE --url URL`",
        ) from exc
    LOG.info("kept pending upload in %s", entry_dir)
    return _read_entry(entry_dir)


def _read_entry(entry_dir: Path) -> OutboxEntry:
    meta_path = entry_dir / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"pending upload '{entry_dir}' has no readable meta.json: {exc}",
            hint=f"upload its body.json directly with `tcup upload {entry_dir / 'body.json'}`",
        ) from exc
    sig = envelope_sig = None
    if meta.get("signature") and meta.get("public_key"):
        sig = Signature(signature=meta["signature"], public_key=meta["public_key"])
    if meta.get("envelope_signature") and meta.get("public_key"):
        envelope_sig = Signature(
            signature=meta["envelope_signature"], public_key=meta["public_key"]
        )
    submission = None
    parts_dir = entry_dir / PARTS_DIR
    if parts_dir.is_dir():
        try:
            parts = {
                name: (parts_dir / name).read_bytes()
                for name in PART_FILES
                if (parts_dir / name).is_file()
            }
            submission = Submission.of(parts)
        except (OSError, InputError) as exc:
            LOG.warning("pending upload %s: its run parts are unusable (%s)", entry_dir, exc)
    return OutboxEntry(
        path=entry_dir,
        url=meta.get("url"),
        created=str(meta.get("created", "")),
        attempts=int(meta.get("attempts", 0)),
        last_error=meta.get("last_error"),
        idempotency_key=meta.get("idempotency_key") or entry_dir.name,
        signature=sig,
        submission=submission,
        envelope_signature=envelope_sig,
    )


def pending_uploads(out_dir: Path) -> list[OutboxEntry]:
    """The entries waiting in ``<out>/outbox/``, oldest first."""
    box = Path(out_dir) / OUTBOX_DIR
    if not box.is_dir():
        return []
    entries = [
        _read_entry(child)
        for child in box.iterdir()
        if child.is_dir() and (child / "body.json").is_file()
    ]
    return sorted(entries, key=lambda e: (e.created, e.path.name))


def retry_command(target: Path | str, url: str, key_path: Path | str | None = None) -> str:
    """The shell command that retries an upload."""
    argv = ["tcup", "upload", str(target), "--url", url]
    if key_path:
        argv += ["--key", str(key_path)]
    return shlex.join(argv)


def flush_outbox(
    out_dir: Path,
    key: Any = None,
    url: str | None = None,
    *,
    key_path: Path | str | None = None,
    **options: Any,
) -> list[Receipt]:
    """Retry every pending upload of ``out_dir``; on success move it to ``<out>/sent/``.

    The body is re-signed with ``key`` if one is given, else sent with the
    signature saved with it (if any).  ``url`` overrides the saved URL.  The
    last receipt is written to ``<out>/upload.json``.  ``options`` go to
    ``upload`` (timeout, retries, backoff, insecure, ca_bundle...).
    """
    out_dir = Path(out_dir)
    receipts = []
    for entry in pending_uploads(out_dir):
        target_url = url or entry.url
        if not target_url:
            raise InputError(
                f"pending upload '{entry.path}' has no server URL",
                hint="give one with --url",
            )
        try:
            body = entry.body_path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read pending upload '{entry.body_path}': {exc}") from exc
        try:
            form = FORM_REFSTACK
            if entry.submission is not None:
                form = server_form(target_url, **_probe_options(options))
            if form == FORM_TCUP and entry.submission is not None:
                receipt = upload_submission(
                    entry.submission,
                    target_url,
                    key,
                    signature=None if key is not None else entry.envelope_signature,
                    **options,
                )
            else:
                receipt = upload(
                    body,
                    target_url,
                    key,
                    signature=None if key is not None else entry.signature,
                    idempotency_key=entry.idempotency_key,
                    **options,
                )
        except UploadError as exc:
            attempts = getattr(exc, "attempts", 0)
            save_outbox(out_dir, body, target_url, attempts=attempts, error=exc.message)
            raise _kept_error(exc, out_dir, entry.path, target_url, key_path) from exc
        _mark_sent(out_dir, entry, receipt)
        receipts.append(receipt)
    return receipts


def _mark_sent(out_dir: Path, entry: OutboxEntry, receipt: Receipt) -> None:
    sent = out_dir / SENT_DIR / entry.path.name
    try:
        sent.parent.mkdir(parents=True, exist_ok=True)
        if sent.exists():
            shutil.rmtree(sent)
        shutil.move(str(entry.path), str(sent))
        _write_json(sent / "receipt.json", receipt.to_dict())
        write_receipt(out_dir, receipt)
        outbox = out_dir / OUTBOX_DIR
        if outbox.is_dir() and not any(outbox.iterdir()):
            outbox.rmdir()
    except OSError as exc:
        # The upload itself succeeded; say so rather than hide it behind a disk error.
        raise UploadError(
            f"uploaded (test id {receipt.test_id}, {receipt.url}) but could not move "
            f"'{entry.path}' out of the outbox: {exc}",
            hint="remove that directory by hand so it is not uploaded again",
        ) from exc


def write_receipt(out_dir: Path, receipt: Receipt) -> Path:
    """Write ``<out>/upload.json``."""
    path = Path(out_dir) / RECEIPT_FILE
    _write_json(path, receipt.to_dict())
    return path


def read_receipt(out_dir: Path) -> Receipt | None:
    """The receipt in ``<out>/upload.json``, or None if there is none (or it is unreadable)."""
    path = Path(out_dir) / RECEIPT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Receipt(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        LOG.warning("ignoring unreadable receipt %s: %s", path, exc)
        return None


def _kept_error(
    exc: UploadError,
    out_dir: Path,
    entry_dir: Path,
    url: str,
    key_path: Path | str | None,
) -> UploadFailed:
    return UploadFailed(
        f"{exc.message}. The results are safe in '{entry_dir}'",
        hint=(f"{exc.hint}; then " if exc.hint else "")
        + f"retry with: {retry_command(out_dir, url, key_path)}",
        attempts=getattr(exc, "attempts", 0),
        status=getattr(exc, "status", None),
    )


def _probe_options(options: dict[str, Any]) -> dict[str, Any]:
    keys = ("timeout", "retries", "backoff", "max_delay", "insecure", "ca_bundle")
    return {k: options[k] for k in keys if k in options}


def run_submission(out_dir: Path, results_body: bytes) -> Submission | None:
    """The whole run of ``out_dir`` as one submission, or None without a manifest.json."""
    parts = {"results": results_body}
    for name, filename in PART_FILES.items():
        path = Path(out_dir) / filename
        if name != "results" and path.is_file():
            try:
                parts[name] = path.read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read '{path}': {exc.strerror}") from exc
    if "manifest" not in parts:
        return None
    return Submission.of(parts)


def upload_run(
    out_dir: Path,
    url: str,
    key: Any = None,
    *,
    key_path: Path | str | None = None,
    force: bool = False,
    **options: Any,
) -> list[Receipt]:
    """Upload a run's output directory: flush its outbox, or send the run.

    To a TCUP server the whole run goes as one signed submission (results,
    subunit, extended results, manifest); to any other server its
    ``results.json``, as refstack-client would send it.  On failure the exact
    bytes go to ``<out>/outbox/`` and the ``UploadError`` says where they are
    and the command that retries them.  On success the receipt is
    ``<out>/upload.json``.  A run already uploaded in the same form to the same
    server (per ``upload.json``) is not sent again unless ``force``; the
    earlier receipt is returned.
    """
    out_dir = Path(out_dir)
    if pending_uploads(out_dir):
        return flush_outbox(out_dir, key, url, key_path=key_path, **options)
    results = out_dir / RESULTS_FILE
    try:
        body = results.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(
            f"'{out_dir}' has no {RESULTS_FILE} and nothing pending in {OUTBOX_DIR}/",
            hint="give a run's output directory or a results.json file",
        ) from exc
    except OSError as exc:
        raise InputError(f"cannot read '{results}': {exc.strerror}") from exc
    validate_body(body, str(results))
    results_endpoint(url)  # a bad URL is an input error, not something to keep
    submission = run_submission(out_dir, body)
    signature = Signature.of(body, key) if key is not None else None
    envelope_signature = (
        Signature.of(submission.envelope, key) if key is not None and submission else None
    )
    try:
        form = FORM_REFSTACK
        if submission is not None:
            form = server_form(url, **_probe_options(options))
        if form == FORM_TCUP and submission is not None:
            endpoint, digest = submission_endpoint(url), submission.digest
        else:
            endpoint, digest = results_endpoint(url), idempotency_key_for(body)
        earlier = read_receipt(out_dir)
        if (
            not force
            and earlier is not None
            and earlier.body_sha256 == digest
            and earlier.endpoint == endpoint
        ):
            LOG.warning("'%s' was already uploaded to %s; not sending it again", out_dir, endpoint)
            return [earlier]
        if form == FORM_TCUP and submission is not None:
            receipt = upload_submission(submission, url, signature=envelope_signature, **options)
        else:
            receipt = upload(body, url, signature=signature, **options)
    except UploadError as exc:
        entry = save_outbox(
            out_dir,
            body,
            url,
            signature=signature,
            attempts=getattr(exc, "attempts", 0),
            error=exc.message,
            submission=submission,
            envelope_signature=envelope_signature,
        )
        raise _kept_error(exc, out_dir, entry.path, url, key_path) from exc
    write_receipt(out_dir, receipt)
    return [receipt]


def validate_body(body: bytes, source: str) -> None:
    """Check ``body`` is a RefStack upload body before sending it (raises ``InputError``)."""
    read_refstack(body, source)

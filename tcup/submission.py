"""A whole run as one signed submission: the envelope both sides share.

A TCUP server takes a run as ``POST /v1/tcup/results``, a multipart body with
one part per file of the run's output directory (``PART_FILES``) plus an
``envelope`` part.  The envelope (schema ``tcup.submission/1``) lists every
other part with its sha256 and size; the ``X-Signature`` header signs the
envelope's exact bytes.  So the signature covers every part, whatever the
multipart boundary or part order, and the submission's identity is the
signing key plus the envelope's digest.

Pure: bytes in, bytes out; no network.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tcup.errors import InputError

SCHEMA = "tcup.submission/1"
ENVELOPE = "envelope"
#: part name -> the file of a run's output directory it carries
PART_FILES: dict[str, str] = {
    "results": "results.json",
    "subunit": "results.subunit",
    "extended": "results-extended.json",
    "manifest": "manifest.json",
}
REQUIRED_PARTS = ("results", "manifest")
_CONTENT_TYPES = {
    "results": "application/json",
    "subunit": "application/octet-stream",
    "extended": "application/json",
    "manifest": "application/json",
    ENVELOPE: "application/json",
}


@dataclass(frozen=True)
class Submission:
    """The parts of one run and the envelope that names them (what gets signed)."""

    parts: Mapping[str, bytes]
    envelope: bytes

    @classmethod
    def of(cls, parts: Mapping[str, bytes]) -> Submission:
        missing = [p for p in REQUIRED_PARTS if p not in parts]
        unknown = sorted(set(parts) - set(PART_FILES))
        if missing or unknown:
            raise InputError(
                "a submission needs "
                + " and ".join(PART_FILES[p] for p in REQUIRED_PARTS)
                + (f"; missing {', '.join(PART_FILES[p] for p in missing)}" if missing else "")
                + (f"; unknown parts {', '.join(unknown)}" if unknown else "")
            )
        ordered = {name: parts[name] for name in PART_FILES if name in parts}
        return cls(parts=ordered, envelope=envelope_bytes(ordered))

    @property
    def digest(self) -> str:
        """sha256 of the envelope: with the signing key, the submission's identity."""
        return hashlib.sha256(self.envelope).hexdigest()

    def multipart(self, boundary: str | None = None) -> tuple[bytes, str]:
        """(body, Content-Type) of the multipart/form-data request."""
        boundary = boundary or f"tcup-{secrets.token_hex(16)}"
        chunks: list[bytes] = []
        for name, data in [(ENVELOPE, self.envelope), *self.parts.items()]:
            filename = PART_FILES.get(name, f"{ENVELOPE}.json")
            chunks.append(
                (
                    f"--{boundary}\r\n"
                    f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: {_CONTENT_TYPES[name]}\r\n\r\n"
                ).encode("ascii")
            )
            chunks.append(data)
            chunks.append(b"\r\n")
        chunks.append(f"--{boundary}--\r\n".encode("ascii"))
        return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def envelope_bytes(parts: Mapping[str, bytes]) -> bytes:
    """The canonical envelope for ``parts`` (sorted keys, no spaces, UTF-8)."""
    listed = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in parts.items()
    }
    return json.dumps(
        {"schema": SCHEMA, "parts": listed}, sort_keys=True, separators=(",", ":")
    ).encode("utf-8")


def read_envelope(data: bytes) -> dict[str, dict[str, Any]]:
    """The parts an envelope lists (name -> {sha256, size}); ``InputError`` if malformed."""
    try:
        envelope = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InputError("the envelope is not JSON") from None
    if not isinstance(envelope, dict) or envelope.get("schema") != SCHEMA:
        raise InputError(f"the envelope is not a {SCHEMA} object")
    if set(envelope) != {"schema", "parts"} or not isinstance(envelope["parts"], dict):
        raise InputError("the envelope must have exactly the keys schema and parts")
    listed: dict[str, dict[str, Any]] = {}
    for name, entry in envelope["parts"].items():
        if name not in PART_FILES:
            raise InputError(
                f"the envelope lists an unknown part {name[:40]!r}",
                hint=f"parts are {', '.join(PART_FILES)}",
            )
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        size = entry.get("size") if isinstance(entry, dict) else None
        if (
            not isinstance(sha, str)
            or len(sha) != 64
            or any(c not in "0123456789abcdef" for c in sha)
            or not isinstance(size, int)
            or isinstance(size, bool)
            or not 0 <= size < 2**53
            or set(entry) != {"sha256", "size"}
        ):
            raise InputError(f"the envelope's entry for part '{name}' is not {{sha256, size}}")
        listed[name] = {"sha256": sha, "size": size}
    missing = [p for p in REQUIRED_PARTS if p not in listed]
    if missing:
        raise InputError(f"the envelope does not list the required part(s) {', '.join(missing)}")
    return listed


def check_parts(envelope: bytes, parts: Mapping[str, bytes]) -> dict[str, dict[str, Any]]:
    """Check ``parts`` are exactly what the (signed) ``envelope`` lists; return the listing."""
    listed = read_envelope(envelope)
    extra = sorted(set(parts) - set(listed))
    if extra:
        raise InputError(f"part(s) {', '.join(extra)} are not listed in the signed envelope")
    for name, entry in listed.items():
        data = parts.get(name)
        if data is None:
            raise InputError(f"the envelope lists part '{name}' but the request has none")
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise InputError(f"part '{name}' does not match the sha256 the envelope signs")
    return listed

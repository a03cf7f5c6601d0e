"""TCUP's own endpoints: the whole signed run (``tcup.submission``) and the receipt key."""

from __future__ import annotations

import email.parser
import email.policy
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tcup import signing, submission
from tcup_server.api.results import (
    read_body,
    refusals_counted,
    store_upload,
    upload_from_request,
)
from tcup_server.errors import ApiError
from tcup_server.services.ingest import RECEIPT_FIELDS
from tcup_server.state import get_state

router = APIRouter(prefix="/v1/tcup", tags=["tcup"])

PARTS = (*submission.PART_FILES, submission.ENVELOPE)

EXTENDED_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {p: {"type": "string", "format": "binary"} for p in PARTS},
                }
            }
        },
    }
}


def split_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The named parts of a multipart/form-data body (the stdlib MIME parser, no temp files)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "Malformed request", detail="expected multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ApiError(400, "Malformed request", detail="the multipart body cannot be parsed")
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name in PARTS:
            if name in parts:
                raise ApiError(400, "Malformed request", detail=f"part '{name}' given twice")
            parts[name] = part.get_payload(decode=True) or b""
    missing = [p for p in (submission.ENVELOPE, *submission.REQUIRED_PARTS) if p not in parts]
    if missing:
        raise ApiError(
            400, "Malformed request", detail=f"part(s) {', '.join(missing)} are required"
        )
    return parts


@router.post("/results", status_code=201, openapi_extra=EXTENDED_DOC)
async def upload_extended(request: Request) -> JSONResponse:
    """A whole run (tcup.submission/1): the signature covers the envelope, which lists
    the sha256 of every part; guideline, target and add-ons come from the manifest."""
    with refusals_counted(request):
        body = await read_body(request)
        upload = upload_from_request(request, body, kind="tcup")
        upload.parts = split_multipart(request.headers.get("content-type", ""), body)
        return await store_upload(request, upload)


@router.get("/server-key")
def server_key(request: Request) -> dict[str, Any]:
    """The public key that signs receipts, and what the signature covers."""
    keys = get_state(request).keys
    line = keys.receipt_public_key
    return {
        "public_key": line,
        "fingerprint": signing.fingerprint(line),
        "algorithm": keys.receipt_algorithm,
        "receipt_fields": list(RECEIPT_FIELDS),
        "payload": "JSON of receipt_fields, sorted keys, separators (',', ':'), UTF-8",
    }

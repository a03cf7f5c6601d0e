"""``/v1/guidelines`` exactly as RefStack, served from the synced guideline directory."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tcup_server.errors import ApiError
from tcup_server.state import get_state

router = APIRouter(prefix="/v1/guidelines", tags=["guidelines"])


@router.get("")
@router.get("/", include_in_schema=False)
def list_guidelines(request: Request) -> JSONResponse:
    return JSONResponse(get_state(request).guidelines.listing())


@router.get("/{name}")
def get_guideline(name: str, request: Request) -> Response:
    raw = get_state(request).guidelines.raw(name)
    if raw is None:
        # RefStack answers 500 here (its upstream fetch failed); an unknown name is the
        # caller's mistake, so we answer 404 with RefStack's words.
        raise ApiError(
            404,
            "The server was unable to get the JSON content for the specified guideline file.",
            detail=f"no guideline '{name}' on this server; GET /v1/guidelines lists them",
        )
    return Response(raw, media_type="application/json")


@router.get("/{name}/tests", response_class=PlainTextResponse)
def guideline_tests(
    name: str,
    request: Request,
    target: str = "platform",
    type: str | None = None,  # noqa: A002 - RefStack's parameter name
    alias: str = "true",
    flag: str = "true",
) -> PlainTextResponse:
    text = get_state(request).guidelines.test_lines(name, target, type, alias, flag)
    return PlainTextResponse(text)

"""Operations endpoints: health for orchestrators, metrics for Prometheus.

* ``GET /health/live`` — liveness: the process answers HTTP (200, no check).
* ``GET /health/ready`` — readiness: the database answers a trivial query and
  the artefact store its own cheap check (:mod:`tcup_server.services.health`);
  200 when both do, else 503, with a JSON body naming each check's status.
  No credentials needed and none given: the body names no host, URL or
  message, only ``ok``/``failed`` and the exception's class name.
* ``GET /metrics`` — the Prometheus text exposition (:mod:`tcup_server.metrics`),
  only to ``Authorization: Bearer <metrics_token>`` (``TCUP_SERVER_METRICS_TOKEN``);
  401 with a wrong or missing token, 404 while no token is configured.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tcup_server.errors import ApiError
from tcup_server.services.health import readiness
from tcup_server.state import get_state

router = APIRouter(tags=["operations"])

_CHECK = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "failed"]},
        "error": {"type": "string"},
    },
}
_READY = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not ready"]},
        "checks": {
            "type": "object",
            "properties": {"database": _CHECK, "artefact_store": _CHECK},
        },
    },
}
_ERROR = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "code": {"type": "integer"}},
}


@router.get(
    "/health/live",
    summary="Liveness: the server process answers",
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"type": "string", "enum": ["alive"]}},
                    }
                }
            }
        }
    },
)
def live() -> dict[str, Any]:
    return {"status": "alive"}


@router.get(
    "/health/ready",
    summary="Readiness: the database and the artefact store answer (503 if not)",
    responses={
        200: {"content": {"application/json": {"schema": _READY}}},
        503: {"content": {"application/json": {"schema": _READY}}},
    },
)
def ready(request: Request) -> JSONResponse:
    state = get_state(request)
    report = readiness(state.engine, state.store, state.settings.health_timeout_seconds)
    return JSONResponse(
        report.body(),
        status_code=200 if report.ready else 503,
        headers={"Cache-Control": "no-store"},
    )


def _check_token(request: Request, token: str) -> None:
    if not token:
        raise ApiError(
            404,
            "Metrics are disabled",
            detail="set metrics_token (TCUP_SERVER_METRICS_TOKEN) and scrape with "
            "'Authorization: Bearer <token>'",
        )
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        sent.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8")
    ):
        raise ApiError(
            401,
            "Unauthorized",
            detail="/metrics needs 'Authorization: Bearer <metrics_token>'",
        )


@router.get(
    "/metrics",
    summary="Prometheus metrics (Authorization: Bearer <metrics_token>)",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/openmetrics-text": {"schema": {"type": "string"}},
            }
        },
        401: {"content": {"application/json": {"schema": _ERROR}}},
        404: {"content": {"application/json": {"schema": _ERROR}}},
    },
)
def metrics(request: Request) -> Response:
    state = get_state(request)
    _check_token(request, state.settings.metrics_token)
    body, content_type = state.metrics.render(request.headers.get("accept", ""))
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

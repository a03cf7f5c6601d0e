"""The application's shared state and the FastAPI dependency that hands it out.

Routers, pages and ``auth`` import :func:`get_state` from here; ``app.py`` only
assembles the application, so nothing imports ``app`` back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tcup_server.keys import ServerKeys
from tcup_server.metrics import Metrics
from tcup_server.services.guidelines import GuidelineDirectory
from tcup_server.services.ingest import IngestContext
from tcup_server.services.oidc import OidcClient
from tcup_server.settings import ServerSettings
from tcup_server.storage import ArtefactStore


@dataclass
class AppState:
    """What every request handler may need; one per application."""

    settings: ServerSettings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: ServerKeys
    store: ArtefactStore
    guidelines: GuidelineDirectory
    ingest: IngestContext
    metrics: Metrics = field(default_factory=Metrics)
    oidc: OidcClient | None = None  # single sign-on, when oidc_issuer is set

    def result_url(self, result_id: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}/results/{result_id}"


def get_state(request: Request) -> AppState:
    """FastAPI dependency: the application's state."""
    return request.app.state.tcup

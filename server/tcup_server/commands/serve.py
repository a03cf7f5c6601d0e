"""``tcup-server serve``: run the API with uvicorn."""

from __future__ import annotations

import argparse
from typing import TextIO

from tcup_server.settings import load_settings

NAME = "serve"
HELP = "serve the HTTP API (uvicorn); creates the server keys on first start"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default from settings: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default from settings: 8000)")
    parser.add_argument("--workers", type=int, help="worker processes")


def serve(settings, stdout: TextIO) -> int:  # noqa: ANN001 - ServerSettings
    import uvicorn

    from tcup_server import db
    from tcup_server.app import create_app

    db.upgrade(db.make_engine(settings.resolved_database_url))
    print(f"serving on http://{settings.host}:{settings.port}", file=stdout, flush=True)
    if settings.workers > 1:
        import os

        os.environ["TCUP_SERVER_HOST"] = settings.host
        uvicorn.run(
            "tcup_server.app:app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level="warning",
        )
    else:
        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_level="warning"
        )
    return 0


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    settings = load_settings(args.config, host=args.host, port=args.port, workers=args.workers)
    return serve(settings, stdout)

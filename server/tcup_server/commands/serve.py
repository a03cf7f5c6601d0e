"""``tcup-server serve``: run the API with uvicorn, logging JSON lines to stdout.

Every log line of the server (its own, uvicorn's, Python's warnings) is one
JSON object on stdout (:mod:`tcup_server.logs`), in every worker process.
With ``--workers N`` (N > 1) the Prometheus metrics need a directory shared
by the workers (prometheus-client's multiprocess mode): ``PROMETHEUS_MULTIPROC_DIR``
if it is set (its old metric files are removed at start, as prometheus-client
requires), else a fresh private temporary directory, removed at exit.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TextIO

from tcup.errors import InputError
from tcup_server import logs
from tcup_server.metrics import MULTIPROC_ENV
from tcup_server.settings import load_settings

NAME = "serve"
HELP = "serve the HTTP API (uvicorn); creates the server keys on first start"
LOG = logging.getLogger("tcup_server.serve")
# the files prometheus-client writes in multiprocess mode: counter_<pid>.db, gauge_livesum_<pid>.db
METRIC_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default from settings: 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default from settings: 8000)")
    parser.add_argument("--workers", type=int, help="worker processes")


def prepare_multiprocess_dir(environ: dict[str, str] | os._Environ = os.environ) -> Path | None:
    """The metrics directory of a multi-worker server, emptied of old metric files.

    Returns the directory this call created (to remove at exit), else ``None``.
    """
    given = environ.get(MULTIPROC_ENV)
    if not given:
        created = Path(tempfile.mkdtemp(prefix="tcup-server-metrics-"))
        environ[MULTIPROC_ENV] = str(created)
        return created
    directory = Path(given)
    if not directory.is_dir():
        raise InputError(
            f"{MULTIPROC_ENV} is '{given}', which is not a directory",
            hint="create it (empty, writable by the server) or unset it",
        )
    for pattern in METRIC_FILES:
        for old in directory.glob(pattern):
            old.unlink(missing_ok=True)
    return None


def serve(settings, stdout: TextIO) -> int:  # noqa: ANN001 - ServerSettings
    import uvicorn

    from tcup_server import db
    from tcup_server.app import create_app

    del stdout  # the log is the output: JSON lines on sys.stdout
    logs.configure(settings.log_level)
    db.upgrade(db.make_engine(settings.resolved_database_url))
    log_config = logs.uvicorn_log_config(settings.log_level)
    common = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config,
        "log_level": settings.log_level,
        "access_log": False,  # tcup_server.access logs each request, without the query
    }
    url = f"http://{settings.host}:{settings.port}"
    if settings.workers > 1 or os.environ.get(MULTIPROC_ENV):
        created = prepare_multiprocess_dir()
    else:
        created = None
    logs.exit_on_sigterm()  # after uvicorn's graceful shutdown: the finally below runs
    try:
        LOG.info(
            "serving on %s",
            url,
            extra={
                "event": "serve.start",
                "url": url,
                "workers": settings.workers,
                "metrics_dir": os.environ.get(MULTIPROC_ENV),
            },
        )
        if settings.workers > 1:
            os.environ["TCUP_SERVER_HOST"] = settings.host
            uvicorn.run(
                "tcup_server.app:app_from_environment",
                factory=True,
                workers=settings.workers,
                **common,
            )
        else:
            uvicorn.run(create_app(settings), **common)
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        LOG.info("stopped", extra={"event": "serve.stop"})
    return 0


def run(args: argparse.Namespace, stdout: TextIO) -> int:
    settings = load_settings(args.config, host=args.host, port=args.port, workers=args.workers)
    return serve(settings, stdout)

"""Benchmark the receiving server: signed uploads per second and result-list latency.

Against a real ``tcup-server serve`` process on 127.0.0.1, on SQLite and on
PostgreSQL (``tools/postgres/up``; skipped with ``--no-postgres``):

* uploads of 300-test signed RefStack bodies per second, 1 sequential client
  and 16 concurrent clients (bodies are signed before the clock starts);
* p95 latency of ``GET /v1/results`` as staff and as a vendor (who sees a tenth)
  with 100 000 stored results, bulk-inserted with SQLAlchemy, then vacuumed and
  analysed as autovacuum would: pages 1, 2, a quarter, half, three quarters,
  the last but one and the last; with ``--every-page`` also each page once.

    .venv/bin/python bench/server_ingest.py [--results 100000] [--no-postgres | --no-sqlite]
        [--no-uploads] [--every-page]

Prints one table of figures.  Uses a temporary data dir; the PostgreSQL
database it creates is dropped at the end.  For the ratio to RefStack, see
``bench/ingest_vs_refstack.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from tcup import guidelines, results, signing, testlist

REPO = Path(__file__).resolve().parents[1]
INTEROP = Path(os.environ.get("TCUP_INTEROP_DIR") or REPO.parent / "shared" / "interop")
TESTS_PER_RESULT = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_names() -> list[str]:
    """300 Tempest test names: 2020.06's platform tests, then older guidelines' (2020.06
    has 284 distinct ones)."""
    names: dict[str, None] = {}
    for version in ("2020.06", "2019.11", "2018.11", "2017.09", "2015.07", "next"):
        path = INTEROP / f"{version}.json"
        guideline = guidelines.parse_guideline(path.read_bytes(), str(path))
        planned = testlist.format_plan(
            testlist.plan(
                guideline,
                "platform",
                statuses=("required", "advisory", "deprecated", "removed"),
                include_flagged=True,
            ),
            "names",
        )
        names.update(dict.fromkeys(planned))
        if len(names) >= TESTS_PER_RESULT:
            break
    return list(names)[:TESTS_PER_RESULT]


class Server:
    """A data dir set up through the library, and ``tcup-server serve`` on a free port."""

    def __init__(self, root: Path, database_url: str = "") -> None:
        from tcup_server import db
        from tcup_server.services.guidelines import GuidelineDirectory, sync
        from tcup_server.settings import load_settings

        self.root = root
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TCUP_SERVER_")},
            "TCUP_SERVER_DATA_DIR": str(root),
            "TCUP_SERVER_PUBLIC_URL": self.url,
            "NO_PROXY": "127.0.0.1",
        }
        if database_url:
            self.env["TCUP_SERVER_DATABASE_URL"] = database_url
        self.settings = load_settings(environ=self.env)
        self.engine = db.make_engine(self.settings.resolved_database_url)
        db.upgrade(self.engine)
        sync(GuidelineDirectory(self.settings.resolved_guideline_dir), str(INTEROP))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_user(self, name: str, staff: bool = False) -> tuple[int, str]:
        from tcup_server import db
        from tcup_server.services.accounts import create_token, create_user

        with db.transaction(db.session_factory(self.engine)) as session:
            user = create_user(session, name, None, staff=staff)
            return user.id, create_token(session, name, "bench")

    def start(self, workers: int = 1) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tcup_server.cli", "serve", "--port", str(self.port)]
            + ["--workers", str(workers)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                if requests.get(f"{self.url}/v1/tcup/server-key", timeout=2).ok:
                    return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise SystemExit("tcup-server serve did not start")

    def register_key(self, key, token: str) -> None:
        """Register ``key`` for the user of ``token`` through the API, as a vendor does."""
        response = requests.post(
            f"{self.url}/v1/profile/pubkeys",
            json={
                "raw_key": signing.public_key_line(key),
                "self_signature": signing.self_signature(key),
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        response.raise_for_status()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.engine.dispose()


Prepared = list[tuple[bytes, dict[str, str]]]


def signed_bodies(key, names: list[str], count: int) -> Prepared:
    """``count`` distinct RefStack bodies of ``names`` (new cpid each), signed with ``key``."""
    prepared = []
    for _ in range(count):
        body = results.dump_refstack(
            {
                "cpid": uuid.uuid4().hex,
                "duration_seconds": 100,
                "results": [{"name": n} for n in names],
            }
        )
        prepared.append(
            (
                body,
                {
                    "Content-Type": "application/json",
                    "X-Signature": signing.sign(body, key),
                    "X-Public-Key": signing.public_key_line(key),
                },
            )
        )
    return prepared


def send_rate(url: str, prepared: Prepared, clients: int) -> float:
    """Uploads per second of ``prepared`` to ``url``/v1/results from ``clients`` threads,
    one keep-alive ``requests.Session`` each; every answer must be 201."""
    local = threading.local()

    def send(item: tuple[bytes, dict[str, str]]) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.post(
            f"{url}/v1/results", data=item[0], headers=item[1], timeout=120
        )
        if response.status_code != 201:
            raise SystemExit(f"upload refused: {response.status_code} {response.text[:200]}")

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, prepared))
    return len(prepared) / (time.perf_counter() - start)


def upload_rate(server: Server, key, names: list[str], count: int, clients: int) -> float:
    """Uploads per second of ``count`` distinct signed bodies from ``clients`` threads."""
    return send_rate(server.url, signed_bodies(key, names, count), clients)


def bulk_insert(server: Server, total: int, vendor_id: int, names: list[str]) -> None:
    """``total`` results (10 % the vendor's) with their tests, straight into the tables."""
    from tcup_server.models import Result, ResultTests

    packed = zlib.compress("\n".join(names).encode(), 6)
    now = dt.datetime(2026, 1, 1)
    batch = 5000
    with server.engine.begin() as conn:
        for offset in range(0, total, batch):
            rows, tests = [], []
            for i in range(offset, min(offset + batch, total)):
                rid = str(uuid.uuid4())
                rows.append(
                    {
                        "id": rid,
                        "owner_id": vendor_id if i % 10 == 0 else None,
                        "cpid": f"bulk-{i % 500}",
                        "duration_seconds": 100,
                        "guideline": "2020.06",
                        "target": "platform",
                        "upload_sha256": "0" * 64,
                        "passed_count": len(names),
                        "qualifies": False,
                        "meta": {"guideline": "2020.06", "target": "platform"},
                        "review_state": "submitted",
                        "created_at": now - dt.timedelta(seconds=i),
                    }
                )
                tests.append({"result_id": rid, "count": len(names), "names_z": packed})
            conn.execute(insert(Result), rows)
            conn.execute(insert(ResultTests), tests)


def settle(server: Server) -> None:
    """After a bulk load, what the database's autovacuum does soon on its own: statistics
    (and on PostgreSQL the visibility map, so that index-only scans need no table row)."""
    with server.engine.connect() as conn:
        if server.engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM (ANALYZE) results")
            )
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()


def every_page_ms(url: str, headers: dict[str, str], last: int) -> list[float]:
    """Milliseconds of one request for each page 1 .. ``last``."""
    timings = []
    with requests.Session() as session:
        for page in range(1, last + 1):
            start = time.perf_counter()
            session.get(f"{url}?page={page}", headers=headers, timeout=60).raise_for_status()
            timings.append((time.perf_counter() - start) * 1000)
    return timings


def p95_ms(url: str, headers: dict[str, str], runs: int = 40) -> float:
    timings = []
    with requests.Session() as session:
        for _ in range(5):  # warm up: connections, compiled and prepared statements
            session.get(url, headers=headers, timeout=60).raise_for_status()
        for _ in range(runs):
            start = time.perf_counter()
            session.get(url, headers=headers, timeout=60).raise_for_status()
            timings.append((time.perf_counter() - start) * 1000)
    return statistics.quantiles(timings, n=20)[-1]


def bench_database(label: str, root: Path, database_url: str, args, rows: list) -> None:
    server = Server(root, database_url)
    names = test_names()
    key = signing.generate_key(2048)
    vendor_id, vendor_token = server.add_user("bench-vendor")
    _, staff_token = server.add_user("bench-staff", staff=True)
    server.start()
    try:
        server.register_key(key, vendor_token)
        if not args.no_uploads:
            seq = upload_rate(server, key, names, args.sequential, 1)
            rows.append((label, f"uploads/s, 1 client ({len(names)} tests each)", f"{seq:.1f}"))
            conc = upload_rate(server, key, names, args.concurrent, 16)
            rows.append((label, f"uploads/s, 16 clients ({len(names)} tests each)", f"{conc:.1f}"))

        started = time.perf_counter()
        bulk_insert(server, args.results, vendor_id, names)
        rows.append(
            (
                label,
                f"bulk insert of {args.results} results (s)",
                f"{time.perf_counter() - started:.1f}",
            )
        )
        settle(server)
        per_page = server.settings.results_per_page
        for who, token, total in (
            ("staff", staff_token, args.results),
            ("vendor", vendor_token, args.results // 10),
        ):
            headers = {"Authorization": f"Bearer {token}"}
            last = max(1, math.ceil(total / per_page))
            for page in sorted({1, 2, last // 4, last // 2, 3 * last // 4, last - 1, last} - {0}):
                ms = p95_ms(f"{server.url}/v1/results?page={page}", headers, args.runs)
                rows.append(
                    (label, f"GET /v1/results p95 ms, {who}, page {page}/{last}", f"{ms:.1f}")
                )
            if args.every_page:
                each = every_page_ms(f"{server.url}/v1/results", headers, last)
                p95 = statistics.quantiles(each, n=20)[-1]
                rows.append(
                    (
                        label,
                        f"GET /v1/results, {who}, each of pages 1-{last} once: p95 / max ms",
                        f"{p95:.1f} / {max(each):.1f}",
                    )
                )
    finally:
        server.stop()


def postgres_database() -> tuple[str, callable]:
    """A fresh database on tools/postgres/up's server, and how to drop it."""
    up = subprocess.run(
        [str(REPO / "tools" / "postgres" / "up")], capture_output=True, text=True, check=True
    )
    server = make_url(up.stdout.strip().splitlines()[-1])
    name = f"tcup_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=100_000, help="stored results for lists")
    parser.add_argument("--sequential", type=int, default=40, help="uploads, 1 client")
    parser.add_argument("--concurrent", type=int, default=160, help="uploads, 16 clients")
    parser.add_argument("--runs", type=int, default=40, help="requests per latency figure")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-uploads", action="store_true", help="result lists only")
    parser.add_argument(
        "--every-page", action="store_true", help="also time each page of the lists once"
    )
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tcup-bench-") as tmp:
        if not args.no_sqlite:
            bench_database("sqlite", Path(tmp) / "sqlite", "", args, rows)
        if not args.no_postgres:
            url, drop = postgres_database()
            try:
                bench_database("postgresql", Path(tmp) / "pg", url, args, rows)
            finally:
                drop()
    width = max(len(r[1]) for r in rows)
    print(f"{'database':<11} {'figure':<{width}} value")
    for label, what, value in rows:
        print(f"{label:<11} {what:<{width}} {value}")
    print(f"(cpu count {os.cpu_count()}, server: 1 uvicorn worker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

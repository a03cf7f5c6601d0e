"""Signed uploads per second: tcup-server against a real RefStack 2.1.0, in one invocation.

Both servers run on 127.0.0.1 with the same number of worker processes:

* tcup: ``tcup-server serve --workers N`` on PostgreSQL (``tools/postgres/up``, a database
  made for the bench and dropped after it; ``--sqlite`` for SQLite), artefacts in a local
  directory, the interop guidelines synced;
* RefStack: ``refstack==2.1.0`` under gunicorn with N sync workers on MariaDB, as
  production runs it (``bench/refstack_peer.py``).

One RSA-2048 key is registered on both (tcup: ``POST /v1/profile/pubkeys``; RefStack: SQL,
as there is no OpenStackID offline).  Every upload is a distinct RefStack body of 300
test names of the 2020.06 platform guideline, signed before the clock starts; the same
client (``requests`` sessions in a thread pool, every answer must be 201) sends the same
bodies to both.  Each round measures 1 client and 8 concurrent clients on both servers and
prints each server's rate and the ratio from that round; the summary is the median over
rounds.  Within a round the two servers take turns ``--slices`` times (a slice of tcup's
uploads, then a slice of RefStack's, each a whole number of waves of the clients), and a
server's rate is its uploads over its summed time: both see the same moments of a machine
whose speed drifts, so the ratio does not depend on which of them a slow second hit.

    .venv/bin/python bench/ingest_vs_refstack.py [--workers 1] [--rounds 3] [--slices 4] [--sqlite]

Prints figures, asserts nothing.  Starts and stops everything it uses (MariaDB, the
guideline mirror, gunicorn, tcup-server) and removes its data.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

from refstack_peer import RefstackPeer
from server_ingest import (
    Prepared,
    Server,
    postgres_database,
    send_rate,
    signed_bodies,
    test_names,
)

from tcup import signing

CLIENTS = (1, 8)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def waves(uploads: int, slices: int, clients: int) -> int:
    """Uploads per slice: a share of ``uploads``, rounded up to whole waves of ``clients``."""
    return max(1, math.ceil(uploads / slices / clients)) * clients


def take_turns(
    urls: tuple[str, str], bodies: Prepared, sizes: tuple[int, int], slices: int, clients: int
) -> tuple[float, float]:
    """Each server's uploads per second over ``slices`` turns: slice ``i`` sends the first
    ``sizes[0]`` of its bodies to the first server, then the first ``sizes[1]`` of the same
    bodies to the second (two servers, two databases: no upload is a replay)."""
    seconds = [0.0, 0.0]
    for i in range(slices):
        chunk = bodies[i * sizes[0] :][: sizes[0]]
        for side in (0, 1):
            seconds[side] += sizes[side] / send_rate(urls[side], chunk[: sizes[side]], clients)
    return slices * sizes[0] / seconds[0], slices * sizes[1] / seconds[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1, help="server processes, both servers")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each figure")
    parser.add_argument("--tcup-uploads", type=int, default=300, help="per figure and round")
    parser.add_argument("--refstack-uploads", type=int, default=60, help="per figure and round")
    parser.add_argument("--slices", type=int, default=4, help="turns of the servers per figure")
    parser.add_argument("--sqlite", action="store_true", help="tcup on SQLite, not PostgreSQL")
    args = parser.parse_args()

    names = test_names()
    key = signing.generate_key(2048)
    warm = 5
    sizes = {
        c: (waves(args.tcup_uploads, args.slices, c), waves(args.refstack_uploads, args.slices, c))
        for c in CLIENTS
    }
    per_round = sum(args.slices * sizes[c][0] for c in CLIENTS)
    bodies = signed_bodies(key, names, warm + args.rounds * per_round)
    print(f"{len(bodies)} bodies of {len(names)} tests signed; {load()}", flush=True)
    figures: dict[tuple[str, int], list[float]] = {}
    ratios: dict[int, list[float]] = {c: [] for c in CLIENTS}
    drop = None
    with tempfile.TemporaryDirectory(prefix="tcup-vs-refstack-") as tmp:
        try:
            url = ""
            if not args.sqlite:
                url, drop = postgres_database()
            tcup = Server(Path(tmp) / "tcup", url)
            _, token = tcup.add_user("bench-vendor")
            tcup.start(args.workers)
            try:
                tcup.register_key(key, token)
                with RefstackPeer(Path(tmp) / "refstack", args.workers) as peer:
                    peer.register_key(signing.public_key_line(key))
                    send_rate(tcup.url, bodies[:warm], 1)
                    send_rate(peer.url, bodies[:warm], 1)
                    for number in range(args.rounds):
                        start = warm + number * per_round
                        for clients in CLIENTS:
                            ours, theirs = take_turns(
                                (tcup.url, peer.url),
                                bodies[start:],
                                sizes[clients],
                                args.slices,
                                clients,
                            )
                            start += args.slices * sizes[clients][0]
                            figures.setdefault(("tcup", clients), []).append(ours)
                            figures.setdefault(("refstack", clients), []).append(theirs)
                            ratios[clients].append(ours / theirs)
                            print(
                                f"round {number + 1}, {clients} client(s): tcup {ours:6.1f}/s, "
                                f"RefStack {theirs:5.1f}/s, {ours / theirs:5.1f}x; {load()}",
                                flush=True,
                            )
            finally:
                tcup.stop()
        finally:
            if drop is not None:
                drop()
    database = "SQLite" if args.sqlite else "PostgreSQL"
    print(
        f"\nsigned {len(names)}-test uploads/s, {args.workers} worker(s) each; "
        f"tcup on {database}, RefStack 2.1.0 on MariaDB; median of {args.rounds} round(s)"
    )
    for clients in CLIENTS:
        ours = statistics.median(figures[("tcup", clients)])
        theirs = statistics.median(figures[("refstack", clients)])
        ratio = statistics.median(ratios[clients])
        each = ", ".join(f"{r:.1f}x" for r in ratios[clients])
        print(
            f"{clients} client(s): tcup {ours:6.1f}/s  RefStack {theirs:5.1f}/s  "
            f"ratio {ratio:5.1f}x  (rounds: {each})"
        )
    print(f"(cpu count {os.cpu_count()}; {load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long collecting and reporting a large run takes.

    .venv/bin/python bench/bench_results.py [--tests N] [--guideline PATH]

Encodes a v2 subunit stream of N tests (names of the guideline's platform
tests, repeated with scenario suffixes; 10% failed with a 4 KiB traceback and
log, 5% skipped) with python-subunit's encoder, converts it to v1 with
subunit-2to1's code path, then times each step tcup runs after Tempest:
parse, RefStack body, extended JSON, JUnit, scoring and the four reports.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import subunit

from tcup import report, results
from tcup.guidelines import parse_guideline
from tcup.scoring import score

REPO = Path(__file__).resolve().parents[1]
INTEROP = Path(os.environ.get("TCUP_INTEROP_DIR") or REPO.parent / "shared" / "interop")


def make_stream(names: list[str], count: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    out = io.BytesIO()
    writer = subunit.StreamResultToBytes(out)
    clock = datetime(2026, 1, 1, tzinfo=UTC)
    traceback = ("Traceback (most recent call last):\n" + "  File x, line 1\n" * 200).encode()
    writer.startTestRun()
    for index in range(count):
        base = names[index % len(names)]
        suffix = f"(scenario{index // len(names)})" if index >= len(names) else ""
        test_id = f"{base}[id-{index:08x}-0000-4000-8000-000000000000,smoke]{suffix}"
        writer.status(test_id=test_id, test_status="inprogress", timestamp=clock)
        clock += timedelta(milliseconds=rng.randint(5, 3000))
        roll = rng.random()
        if roll < 0.10:
            writer.status(
                test_id=test_id,
                file_name="traceback",
                file_bytes=traceback,
                mime_type="text/x-traceback; charset=utf8",
                eof=True,
                timestamp=clock,
            )
            writer.status(test_id=test_id, test_status="fail", timestamp=clock)
        elif roll < 0.15:
            writer.status(
                test_id=test_id,
                file_name="reason",
                file_bytes=b"feature disabled",
                mime_type="text/plain; charset=utf8",
                eof=True,
                timestamp=clock,
            )
            writer.status(test_id=test_id, test_status="skip", timestamp=clock)
        else:
            writer.status(test_id=test_id, test_status="success", timestamp=clock)
    writer.stopTestRun()
    return out.getvalue()


def to_v1(v2: bytes) -> bytes:
    proc = subprocess.run(
        [sys.executable, "-m", "subunit.filter_scripts.subunit_2to1"],
        input=v2,
        capture_output=True,
        check=True,
    )
    return proc.stdout


def timed(label: str, func, *args):
    start = time.perf_counter()
    value = func(*args)
    print(f"{label:<28} {1000 * (time.perf_counter() - start):8.1f} ms")
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--guideline", default=str(INTEROP / "2020.06.json"))
    args = parser.parse_args()
    guideline = parse_guideline(Path(args.guideline).read_bytes(), args.guideline)
    names = sorted({t.name for cap in guideline.target_capabilities("platform") for t in cap.tests})
    v2 = make_stream(names, args.tests)
    v1 = to_v1(v2)
    print(f"{args.tests} tests; v2 stream {len(v2) / 1e6:.1f} MB, v1 {len(v1) / 1e6:.1f} MB")
    run = timed("read_subunit (v2)", results.read_subunit, v2)
    timed("read_subunit (v1)", results.read_subunit, v1)
    body = timed("refstack_body", results.refstack_body, run, "cpid", 100)
    timed("dump_refstack", results.dump_refstack, body)
    env = results.RunEnvironment(guideline_id=guideline.id, target="platform")
    extended = timed("dump_extended", results.dump_extended, run, env)
    timed("read_extended (validated)", results.read_extended, extended)
    timed("junit_xml", results.junit_xml, run)
    states = timed("states", run.states)
    scored = timed("score (platform)", score, guideline, "platform", states)
    for fmt in report.FORMATS:
        timed(f"render {fmt}", report.render, scored, fmt)


if __name__ == "__main__":
    main()

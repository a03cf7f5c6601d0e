"""Figures for signing and uploading: key generation, sign/verify of a full-size body,
and signed uploads to a local RefStack-like server on 127.0.0.1.

    .venv/bin/python bench/bench_upload.py

The body is every test of the 2020.06 guideline (names and ids, as refstack-client
serialises them), the size of a complete platform run's upload.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tcup import signing  # noqa: E402
from tcup import upload as up  # noqa: E402
from tests.interop import interop_dir  # noqa: E402
from tests.refstack_fake import FakeRefstack  # noqa: E402


def full_body() -> bytes:
    guideline = json.loads((interop_dir() / "2020.06.json").read_bytes())
    results = [
        {"name": name, "uuid": test["idempotent_id"].removeprefix("id-")}
        for capability in guideline["capabilities"].values()
        for name, test in capability["tests"].items()
    ]
    body = {"cpid": "b33dc8a37c8607c6a7612f6296139578", "duration_seconds": 4711}
    body["results"] = results
    return json.dumps(body).encode("utf-8")


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def show(label: str, times: list[float]) -> None:
    median = statistics.median(times) * 1000
    print(f"{label:<44} median {median:8.2f} ms  (n={len(times)}, max {max(times) * 1000:.2f} ms)")


def main() -> None:
    body = full_body()
    print(f"body: {len(json.loads(body)['results'])} tests, {len(body)} bytes")
    for bits in (2048, 4096):
        show(f"generate RSA-{bits} key", timed(lambda b=bits: signing.generate_key(b), 5))
        key = signing.generate_key(bits)
        line = signing.public_key_line(key)
        sig = signing.sign(body, key)
        show(f"sign full body, RSA-{bits}", timed(lambda k=key: signing.sign(body, k), 50))
        show(
            f"verify full body, RSA-{bits}",
            timed(lambda s=sig, ln=line: signing.verify(body, s, ln), 50),
        )
    key = signing.generate_key(4096)
    with FakeRefstack() as server:
        server.register_key(signing.public_key_line(key))
        show(
            "signed upload to 127.0.0.1 (RSA-4096)",
            timed(lambda: up.upload(body, server.url, key, retries=0), 30),
        )
        server.fail_next(503)
        show(
            "upload with one 503 retry (backoff 0.01 s)",
            timed(lambda: up.upload(body, server.url, key, backoff=0.01), 1),
        )


if __name__ == "__main__":
    main()

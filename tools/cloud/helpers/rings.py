"""Build the three one-replica Swift rings (account, container, object) if missing.

One Python process instead of nine `swift-ring-builder` calls. The device is a
plain folder, <state>/srv/node/d1, on 127.0.0.1.

usage: rings.py <swift_dir>
"""

from __future__ import annotations

import sys
from pathlib import Path

from swift.common.ring import RingBuilder

PORTS = {"object": 6200, "container": 6201, "account": 6202}


def build(swift_dir: Path) -> None:
    for name, port in PORTS.items():
        ring = swift_dir / f"{name}.ring.gz"
        if ring.exists():
            continue
        builder = RingBuilder(8, 1, 1)  # 2^8 partitions, 1 replica, 1 h between moves
        builder.add_dev(
            {
                "region": 1,
                "zone": 1,
                "ip": "127.0.0.1",
                "port": port,
                "device": "d1",
                "weight": 100,
            }
        )
        builder.rebalance()
        builder.save(str(swift_dir / f"{name}.builder"))
        builder.get_ring().save(str(ring))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build(Path(sys.argv[1]))

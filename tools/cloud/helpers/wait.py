"""Wait until services answer HTTP, failing fast with the log of one that did not.

usage: wait.py --timeout SECONDS NAME,URL,PIDFILE,LOGFILE [...]

URL may be "-" for a daemon without a port: it then only has to stay alive.
A tcp://HOST:PORT URL (MariaDB, RabbitMQ) is up once it accepts a connection.
Any HTTP answer below 500 counts as up (Glance answers /versions with 300).
Exit 0 when every service is up; 1 with a message naming the service and its
log file otherwise.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Service:
    name: str
    url: str
    pidfile: Path
    log: Path


def parse(spec: str) -> Service:
    name, url, pidfile, log = spec.split(",", 3)
    return Service(name, url, Path(pidfile), Path(log))


def alive(service: Service) -> bool:
    try:
        pid = int(service.pidfile.read_text().strip())
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return False
    # A child that exited but was not reaped yet is a zombie: state "Z".
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def answers(url: str) -> bool:
    if url.startswith("tcp://"):
        host, port = url.removeprefix("tcp://").rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return True
        except OSError:
            return False
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL from up
            return True
    except urllib.error.HTTPError as err:
        return err.code < 500
    except (OSError, ValueError):
        return False


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "    (no log written)"
    return "\n".join("    " + line for line in text[-lines:])


def fail(service: Service, why: str) -> None:
    sys.stderr.write(
        f"error: {service.name} {why}; see {service.log}\n"
        f"  last lines of the log:\n{tail(service.log)}\n"
    )
    sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("services", nargs="+", type=parse)
    args = parser.parse_args()

    # Daemons without a port stay watched until the last server answers.
    pending = [s for s in args.services if s.url != "-"]
    deadline = time.monotonic() + args.timeout
    while True:
        for service in args.services:
            if not alive(service):
                fail(service, "exited during start-up")
        pending = [s for s in pending if not answers(s.url)]
        if not pending:
            break
        if time.monotonic() > deadline:
            fail(pending[0], f"did not answer {pending[0].url} within {args.timeout:.0f} s")
        time.sleep(0.25)


if __name__ == "__main__":
    main()

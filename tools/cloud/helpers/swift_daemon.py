"""Run a Swift background daemon with swift.conf read from a given folder.

Swift's WSGI servers honour `swift_dir` from their config, but the daemons
(updaters, replicator) validate /etc/swift/swift.conf before they read it
(pitfall 7 of the measured Keystone + Swift recipe that docs/reference-cloud.md
follows). Setting the folder first, then running the daemon through Swift's own
`run_daemon`, avoids that.

The container updater is run single-process: its stock `run_forever` forks one
child per partition on every sweep, and with the 2 s interval this cloud needs
(account byte counts for the quota tests) 256 partitions meant forking about a
hundred eventlet-patched children a second, which kept both cores busy for good
once the partitions had filled up. `run_once` does the same sweep in-process.

usage: swift_daemon.py <swift_dir> <daemon> <conf> [daemon options]
  daemon: container-updater | object-updater | container-replicator
"""

from __future__ import annotations

import importlib
import sys
import time

DAEMONS = {
    "container-updater": ("swift.container.updater", "ContainerUpdater"),
    "object-updater": ("swift.obj.updater", "ObjectUpdater"),
    "container-replicator": ("swift.container.replicator", "ContainerReplicator"),
}


def single_process(cls: type) -> type:
    """``cls`` with a ``run_forever`` that sweeps in-process every ``interval`` seconds."""

    class SingleProcess(cls):
        def run_forever(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            while True:
                begin = time.time()
                self.run_once(*args, **kwargs)
                time.sleep(max(self.interval - (time.time() - begin), 0.0))

    SingleProcess.__name__ = cls.__name__
    return SingleProcess


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] not in DAEMONS:
        sys.exit(__doc__)
    swift_dir, daemon = sys.argv[1], sys.argv[2]
    from swift.common.daemon import run_daemon
    from swift.common.utils import parse_options, set_swift_dir

    set_swift_dir(swift_dir)
    module_name, class_name = DAEMONS[daemon]
    cls = getattr(importlib.import_module(module_name), class_name)
    if daemon == "container-updater":
        cls = single_process(cls)
    sys.argv = [f"swift-{daemon}", *sys.argv[3:]]
    conf_file, options = parse_options(once=True)
    run_daemon(cls, conf_file, **options)


if __name__ == "__main__":
    main()

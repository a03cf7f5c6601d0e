"""Run a Swift background daemon with swift.conf read from a given folder.

Swift's WSGI servers honour `swift_dir` from their config, but the daemons
(container-updater, object-updater) validate /etc/swift/swift.conf before they
read it (pitfall 7 of ../shared/docs/reference-cloud.md). Setting the folder
first, then calling the daemon's own entry point, avoids that.

usage: swift_daemon.py <swift_dir> <container-updater|object-updater> <conf> [daemon options]
"""

from __future__ import annotations

import importlib
import sys

DAEMONS = {
    "container-updater": "swift.container.updater",
    "object-updater": "swift.obj.updater",
}


def main() -> None:
    if len(sys.argv) < 4 or sys.argv[2] not in DAEMONS:
        sys.exit(__doc__)
    swift_dir, daemon = sys.argv[1], sys.argv[2]
    from swift.common.utils import set_swift_dir

    set_swift_dir(swift_dir)
    module = importlib.import_module(DAEMONS[daemon])
    sys.argv = [f"swift-{daemon}", *sys.argv[3:]]
    sys.exit(module.main())


if __name__ == "__main__":
    main()

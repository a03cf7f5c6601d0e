#!/opt/tcup-server/venv/bin/python
"""HEALTHCHECK of the tcup-server image: GET /health/ready of the server in this container.

The address comes from the server's own settings (``TCUP_SERVER_HOST``/``PORT`` or the
``TCUP_SERVER_CONFIG`` file), so a port changed there is followed; a port given only as
``serve --port`` on the command line is not.  Exit 0 when ready, 1 otherwise (Docker's rule).
"""

import sys
import urllib.error
import urllib.request

from tcup_server.settings import load_settings

# A server bound to every address is asked on loopback.
WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104
TIMEOUT = 9  # seconds; the image's HEALTHCHECK --timeout is 10


def main() -> int:
    try:
        settings = load_settings()
    except Exception as exc:  # any reason is "not healthy", said in one line
        print(f"unhealthy: settings: {exc}")
        return 1
    host = WILDCARDS.get(settings.host, settings.host)
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{settings.port}/health/ready"
    # No proxy: an HTTP(S)_PROXY set for the Swift store must not take this request.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT) as answer:
            print(answer.read(500).decode(errors="replace"))
            return 0
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {exc.code} {exc.read(500).decode(errors='replace')}")
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())

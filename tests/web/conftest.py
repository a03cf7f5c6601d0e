"""Fixtures of the web page tests: a real server process, accounts, a real Chromium;
and an in-memory SQLite session for the service tests.

See ``web_harness`` and ``service_db`` for what each provides and how.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from service_db import sqlite_session
from sqlalchemy.orm import Session
from web_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    GUIDELINE,
    INTEROP,
    REPO,
    Accounts,
    Server,
    WebClient,
    create_user,
    free_port,
    register_key_by_api,
    running_server,
)


@pytest.fixture
def db() -> Iterator[Session]:
    yield from sqlite_session()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not (INTEROP / f"{GUIDELINE}.json").is_file():
        pytest.fail(f"interop guidelines not found in {INTEROP} (set TCUP_INTEROP_DIR)")
    data_dir = tmp_path_factory.mktemp("tcup-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TCUP_SERVER_DATA_DIR": str(data_dir),
        "TCUP_SERVER_COOKIE_SECURE": "false",  # plain http on loopback
        "TCUP_SERVER_PUBLIC_URL": url,
        "TCUP_SERVER_RESULTS_PER_PAGE": "3",  # so that paging shows with few uploads
    }
    env.pop("TCUP_SERVER_CONFIG", None)
    env.pop("TCUP_SERVER_DATABASE_URL", None)
    with running_server(data_dir, port, env) as boot:
        yield boot


@pytest.fixture(scope="session")
def accounts(server: Server) -> Accounts:
    staff = create_user(server, "sam", staff=True)
    vera = create_user(server, "vera")
    otto = create_user(server, "otto")
    admin = WebClient(server.url)
    admin.login(staff.name, staff.password)
    for account, vendor in ((vera, "Vera Cloud"), (otto, "Otto Systems")):
        made = admin.post("/vendors", "/vendors", {"name": vendor, "description": "test vendor"})
        assert made.status_code == 200, made.text[:500]
        account.vendor_id = made.url.rstrip("/").split("?")[0].rsplit("/", 1)[-1]
        added = admin.post(
            f"/vendors/{account.vendor_id}",
            f"/vendors/{account.vendor_id}/members",
            {"username": account.name, "role": "admin"},
        )
        assert added.status_code == 200 and "Member added" in added.text, added.text[:500]
        register_key_by_api(server, account)
    return Accounts(staff=staff, vera=vera, otto=otto)


@pytest.fixture(scope="session")
def browser_installed() -> str:
    script = REPO / "tools" / "browser" / "install"
    check = subprocess.run([str(script), "--check"], capture_output=True, text=True)
    if check.returncode != 0:
        done = subprocess.run([str(script)], capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"tools/browser/install failed:\n{done.stdout}{done.stderr}"
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(browser_installed: str):  # noqa: ANN201 - playwright Browser
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser_installed, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, server: Server):  # noqa: ANN001, ANN201 - playwright objects
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()

"""Staff see one verdict per programme: a signed Platform run with the DNS and
Orchestration add-ons, one Orchestration test failing, read in a real Chromium.

The module has a server of its own (same setup as the session ``server``
fixture): the story of test_pages.py counts every submission staff can see,
and an upload of this module must not change its numbers.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator

import pytest
from web_harness import (
    GUIDELINE,
    INTEROP,
    Account,
    Server,
    create_user,
    follow,
    free_port,
    login,
    register_key_by_api,
    running_server,
    screenshot,
    subunit_stream,
)

pytestmark = pytest.mark.integration

ADD_ONS = ("dns", "orchestration")
CPID = "c3" * 16


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("tcup-server-programmes")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TCUP_SERVER_")},
        "TCUP_SERVER_DATA_DIR": str(data_dir),
        "TCUP_SERVER_COOKIE_SECURE": "false",  # plain http on loopback
        "TCUP_SERVER_PUBLIC_URL": url,
    }
    with running_server(data_dir, port, env) as boot:
        yield boot


@pytest.fixture
def own_page(browser, own_server: Server):  # noqa: ANN001, ANN201 - playwright objects
    context = browser.new_context(base_url=own_server.url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        context.close()


def _guidelines():
    from tcup.guidelines import parse_guideline

    main = parse_guideline((INTEROP / f"{GUIDELINE}.json").read_bytes(), f"{GUIDELINE}.json")
    add_ons = [
        parse_guideline((INTEROP / "add-ons" / f"{n}.{GUIDELINE}.json").read_bytes(), n)
        for n in ADD_ONS
    ]
    return main, add_ons


@pytest.fixture(scope="module")
def staff_and_upload(own_server: Server) -> tuple[Account, str, list[str]]:
    """A staff account, and the id of a signed run with both add-ons (Orchestration fails)."""
    from tcup import report, results, scoring, testlist
    from tcup.submission import Submission
    from tcup.upload import upload_submission

    staff = create_user(own_server, "pat", staff=True)
    vendor = create_user(own_server, "val")
    register_key_by_api(own_server, vendor)

    main, add_ons = _guidelines()
    plan = testlist.plan(main, "platform", add_ons)
    ids = testlist.format_plan(plan, "refstack")
    failing_cap = add_ons[1].target_capabilities("orchestration", ("required",))[0]
    failing = {failing_cap.tests[0].name}
    stream = subunit_stream(
        [t for t in ids if t.split("[")[0] not in failing],
        [t for t in ids if t.split("[")[0] in failing],
    )
    run = results.read_subunit(stream, "generated.subunit")
    manifest = {
        "versions": {"tcup": "test", "tempest": "47.0.0", "python": sys.version.split()[0]},
        "guideline": main.id,
        "guideline_sha256": main.sha256,
        "target": "platform",
        "add_ons": [a.id for a in add_ons],
        "cpid": CPID,
    }
    parts = {
        "results": results.dump_refstack(results.refstack_body(run, CPID, 600)),
        "subunit": stream,
        "manifest": json.dumps(manifest).encode(),
    }
    receipt = upload_submission(Submission.of(parts), own_server.url, vendor.key, retries=0)
    # what tcup itself says of the same run: the page must show exactly these lines
    expected = scoring.score_run(main, "platform", run.states(), add_ons)
    return staff, receipt.test_id, report.programme_verdicts(expected)


def test_staff_see_the_three_verdicts_on_the_review_page(
    own_page, staff_and_upload: tuple[Account, str, list[str]]
) -> None:
    page = own_page
    staff, test_id, lines = staff_and_upload
    assert [line.startswith("Would qualify") for line in lines] == [True, True, False]
    login(page, staff)
    page.goto("/results")
    row = page.locator(f"#submissions tr[data-id='{test_id}']")
    badges = row.locator("ul.programme-badges li")
    assert badges.all_inner_texts() == [
        "qualifies Platform",
        "qualifies DNS add-on",
        "does not qualify Orchestration add-on",
    ]
    screenshot(page, "submissions-programmes")

    follow(page, f"a[href='/results/{test_id}']")
    assert page.locator(".lede .badge").first.inner_text() == "does not qualify"
    items = page.locator("#programmes li")
    assert items.count() == 3
    assert [items.nth(i).get_attribute("data-guideline") for i in range(3)] == [
        "2020.06",
        "dns.2020.06",
        "orchestration.2020.06",
    ]
    assert [items.nth(i).get_attribute("data-qualifies") for i in range(3)] == ["yes", "yes", "no"]
    assert [items.nth(i).locator(".verdict-line").inner_text() for i in range(3)] == lines
    assert "22 of 23 required capabilities passed" in items.nth(2).inner_text()
    screenshot(page, "submission-programmes")

"""The staff review and publishing pages, driven in a real headless Chromium.

One story, in order: two vendors upload signed runs; Vera creates her product
and links her latest run to it; staff filter, open and review it (a rejection
without a reason is refused); Vera publishes it and it shows on the public
page; Otto never sees Vera's submissions.  Forms without a CSRF token are
refused.  Screenshots of the main pages are kept in tests/artifacts/web/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from web_harness import (
    TARGET,
    Accounts,
    Server,
    Uploaded,
    WebClient,
    create_user,
    follow,
    login,
    run_and_upload,
    screenshot,
)

pytestmark = pytest.mark.integration

VERA_CLOUD = "a1" * 16  # two uploads of the same cloud (cpid), for the diff
OTTO_CLOUD = "b2" * 16
FAILING = "compute-images-create"  # the capability Vera's first run fails


@pytest.fixture(scope="module")
def uploads(server: Server, accounts: Accounts) -> dict[str, Uploaded]:
    first = run_and_upload(server, accounts.vera, VERA_CLOUD, FAILING, extended=True)
    second = run_and_upload(server, accounts.vera, VERA_CLOUD)
    otto = run_and_upload(server, accounts.otto, OTTO_CLOUD)
    extra = run_and_upload(server, accounts.otto, OTTO_CLOUD, FAILING)
    return {"vera_first": first, "vera_second": second, "otto": otto, "otto_failing": extra}


def test_pages_carry_security_headers_and_no_inline_script(server: Server) -> None:
    answer = requests.get(server.url + "/login", timeout=10)
    assert answer.status_code == 200
    csp = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # no script at all, not even from 'self'
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in answer.text and " style=" not in answer.text
    css = requests.get(server.url + "/static/tcup.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # traversal out of /static: refused (the input guard answers 400 before any route)
    escaped = requests.get(server.url + "/static/..%2fcommon.py", timeout=10)
    assert escaped.status_code in (400, 404) and "import" not in escaped.text


def test_session_cookie_is_httponly_and_lax(server: Server, accounts: Accounts) -> None:
    client = WebClient(server.url)
    token = client.token("/login")
    answer = client.http.post(
        server.url + "/login",
        data={"username": "sam", "password": accounts.staff.password, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303
    cookie = next(c for c in answer.raw.headers.getlist("set-cookie") if "tcup_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert answer.headers["location"] == "/results"
    assert accounts.staff.password not in answer.headers["location"]


def test_login_is_refused_without_csrf_token(server: Server, accounts: Accounts) -> None:
    answer = requests.post(
        server.url + "/login",
        data={"username": "sam", "password": accounts.staff.password},
        timeout=30,
    )
    assert answer.status_code == 403
    assert "tcup_session" not in answer.cookies


def test_post_without_csrf_token_is_refused(
    server: Server, accounts: Accounts, uploads: dict[str, Uploaded]
) -> None:
    target = uploads["otto_failing"].id
    staff = WebClient(server.url)
    staff.login("sam", accounts.staff.password)
    for data in (
        {"to_state": "in_review"},
        {"to_state": "in_review", "csrf_token": "forged-" + "x" * 40},
    ):
        answer = staff.http.post(f"{server.url}/results/{target}/review", data=data, timeout=30)
        assert answer.status_code == 403, data
        assert "security token" in answer.text
    page = staff.http.get(f"{server.url}/results/{target}", timeout=30)
    assert 'data-state="submitted"' in page.text  # nothing changed
    # a token from another browser's session is refused too
    other = WebClient(server.url)
    other.login("vera", accounts.vera.password)
    foreign = other.token("/results")
    answer = staff.http.post(
        f"{server.url}/results/{target}/review",
        data={"to_state": "in_review", "csrf_token": foreign},
        timeout=30,
    )
    assert answer.status_code == 403


def test_login_is_rate_limited(server: Server, accounts: Accounts) -> None:
    rita = create_user(server, "rita")  # her own account: the lockout must not hit others
    client = WebClient(server.url)
    statuses = []
    for _ in range(6):
        token = client.token("/login")
        answer = client.http.post(
            server.url + "/login",
            data={"username": "rita", "password": "wrong", "csrf_token": token},
            timeout=30,
        )
        statuses.append(answer.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    assert "Too many failed attempts" in answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    # the right password is refused too while the account is cooling down
    token = client.token("/login")
    answer = client.http.post(
        server.url + "/login",
        data={"username": "rita", "password": rita.password, "csrf_token": token},
        timeout=30,
    )
    assert answer.status_code == 429


def test_anonymous_visitor_is_sent_to_login(page, uploads: dict[str, Uploaded]) -> None:
    page.goto(f"/results/{uploads['vera_first'].id}")
    assert page.url.split("?")[0].endswith("/login")
    assert page.locator("h1").inner_text() == "Log in"


def test_vendor_creates_product_and_links_submission(
    page, accounts: Accounts, uploads: dict[str, Uploaded]
) -> None:
    login(page, accounts.vera)
    follow(page, "nav >> text=Vendors & products")
    follow(page, "text=Vera Cloud")
    page.fill("form[action$='/products'] input[name=name]", "Vera Public Cloud")
    page.select_option("form[action$='/products'] select[name=product_type]", label="Public cloud")
    page.click("form[action$='/products'] button")
    page.wait_for_selector("text=Product created.")
    product = page.locator("section.product[data-product='Vera Public Cloud']")
    product.locator("input[name=version]").fill("2026.1")
    product.locator("input[name=cpid]").fill(VERA_CLOUD)
    product.locator("button").click()
    page.wait_for_selector("text=Product version created.")
    screenshot(page, "vendor")

    page.goto(f"/results/{uploads['vera_second'].id}")
    option = page.locator("select[name=version_id] option", has_text="Vera Public Cloud 2026.1")
    assert "(this cloud)" in option.inner_text()  # the version's cpid is this run's cloud
    page.select_option("select[name=version_id]", value=option.get_attribute("value"))
    page.click("form[action$='/link'] button")
    page.wait_for_selector("text=Submission linked to the product version.")
    assert "Vera Public Cloud 2026.1" in page.locator("dl.facts").first.inner_text()


def test_staff_filters_opens_and_verifies(
    page, accounts: Accounts, uploads: dict[str, Uploaded]
) -> None:
    login(page, accounts.staff)
    page.goto("/results")
    rows = page.locator("#submissions tbody tr[data-id]")
    assert rows.count() == 3  # 4 submissions, 3 per page
    assert page.locator(".pager").inner_text().startswith("4 submissions")
    follow(page, "a[rel=next]")
    assert page.locator("#submissions tbody tr[data-id]").count() == 1

    page.goto("/results")
    page.select_option("select[name=vendor]", label="Vera Cloud")
    page.select_option("select[name=verdict]", value="qualifies")
    follow(page, "form.filters button[type=submit]")
    ids = page.locator("#submissions tbody tr[data-id]")
    assert [ids.nth(i).get_attribute("data-id") for i in range(ids.count())] == [
        uploads["vera_second"].id
    ]
    screenshot(page, "submissions")

    follow(page, f"a[href='/results/{uploads['vera_second'].id}']")
    assert page.locator(".lede .badge").first.inner_text() == "qualifies"
    assert page.locator("#key-owner").inner_text() == "vera"
    assert page.locator("#key-fingerprint").inner_text() == accounts.vera.fingerprint
    assert FAILING in page.locator("#diff .diff-gained + ul").inner_text()
    required = page.locator("#capabilities tbody tr", has_text="required")
    assert required.count() > 10
    assert (
        page.locator(f"#capabilities tr[data-capability='{FAILING}']").inner_text().count("passed")
    )

    page.click("#review button:has-text('Start review')")
    page.wait_for_selector("text=Review started.")
    page.click("#review button:has-text('Reject')")  # no reason given
    page.wait_for_selector("text=a reason is required for rejecting a submission")
    assert page.locator(".lede [data-state]").get_attribute("data-state") == "in_review"

    verify = page.locator("#review form", has=page.locator("input[value=verified]"))
    verify.locator("textarea").fill("Complete run; key registered to the vendor.")
    verify.locator("button").click()
    page.wait_for_selector("text=Submission verified.")
    assert page.locator(".lede [data-state]").get_attribute("data-state") == "verified"
    audit = page.locator("#audit").inner_text()
    assert "moved it from in review to verified" in audit
    assert "Reason: Complete run; key registered to the vendor." in audit
    assert "sam" in audit
    screenshot(page, "submission")


def test_staff_sees_failure_details_manifest_and_artefacts(
    page, server: Server, accounts: Accounts, uploads: dict[str, Uploaded]
) -> None:
    login(page, accounts.staff)
    page.goto(f"/results/{uploads['vera_first'].id}")
    assert page.locator(".lede .badge").first.inner_text() == "does not qualify"
    row = page.locator(f"#capabilities tr[data-capability='{FAILING}']")
    assert row.locator(".badge").first.inner_text() == "failed"  # from the extended results
    details = row.locator("details.failure").first
    details.locator("summary").click()
    assert "AssertionError: 404 != 200" in details.locator("pre").inner_text()
    assert "tempest" in page.locator("#manifest").inner_text()
    screenshot(page, "submission-failures")
    with page.expect_download() as download:
        page.click("text=results-extended.json")
    saved = download.value.path()
    assert saved is not None and b'"traceback"' in Path(saved).read_bytes()


def test_vendor_sees_only_their_own(
    page, server: Server, accounts: Accounts, uploads: dict[str, Uploaded]
) -> None:
    login(page, accounts.otto)
    page.goto("/results")
    listed = page.locator("#submissions tbody tr[data-id]")
    ids = {listed.nth(i).get_attribute("data-id") for i in range(listed.count())}
    assert ids == {uploads["otto"].id, uploads["otto_failing"].id}
    assert page.locator("select[name=vendor] option").all_inner_texts() == ["any", "Otto Systems"]
    answer = page.goto(f"/results/{uploads['vera_first'].id}")
    assert answer.status == 404
    assert "there is no submission" in page.locator("main").inner_text().lower()
    assert page.goto(f"/results/{uploads['vera_first'].id}/artefacts/upload").status == 404
    assert page.goto(f"/vendors/{accounts.vera.vendor_id}").status == 404
    # his own submission: no review forms, no failure details, no raw artefacts
    page.goto(f"/results/{uploads['otto_failing'].id}")
    assert page.locator("#review").count() == 0
    assert page.locator("details.failure").count() == 0
    assert page.locator("text=Raw artefacts").count() == 0
    assert page.goto(f"/results/{uploads['otto'].id}/artefacts/upload").status == 403


def test_vendor_cannot_review(server: Server, accounts: Accounts, uploads: dict[str, Uploaded]):
    otto = WebClient(server.url)
    otto.login("otto", accounts.otto.password)
    own = uploads["otto"].id
    answer = otto.post(f"/results/{own}", f"/results/{own}/review", {"to_state": "in_review"})
    assert answer.status_code == 403
    theirs = uploads["vera_first"].id
    answer = otto.post(f"/results/{own}", f"/results/{theirs}/review", {"to_state": "in_review"})
    assert answer.status_code == 404


def test_publishing_shows_on_public_page(
    page, server: Server, accounts: Accounts, uploads: dict[str, Uploaded]
) -> None:
    public = requests.get(server.url + "/", timeout=10).text
    assert "Vera Public Cloud" not in public  # verified but not yet published

    login(page, accounts.vera)
    page.goto(f"/results/{uploads['vera_second'].id}")
    page.click("text=Publish on the public page")
    page.wait_for_selector("text=Submission published")
    follow(page, "text=Log out")
    page.goto("/")
    row = page.locator("tbody tr", has_text="Vera Public Cloud")
    assert row.count() == 1
    text = row.inner_text()
    assert "Vera Cloud" in text and "2026.1" in text and "2020.06" in text and TARGET in text
    # the marks it earns, by title
    assert row.locator(".badge").all_inner_texts() == ["OpenStack Powered Platform 2020.06"]
    screenshot(page, "public")
    body = page.content()
    for private in (VERA_CLOUD, OTTO_CLOUD, uploads["vera_second"].id, "Otto Systems", "tempest."):
        assert private not in body


def test_keys_page_registers_and_revokes(page, accounts: Accounts) -> None:
    from tcup import signing

    key = signing.generate_key(2048)
    line = signing.public_key_line(key, "otto@laptop")
    login(page, accounts.vera)
    page.goto("/keys")
    page.fill("textarea[name=raw_key]", line)
    page.fill("textarea[name=self_signature]", "00" * 256)
    page.click("form[action='/keys'] button")
    page.wait_for_selector(".flash.error")
    assert page.locator(f"tr[data-fingerprint='{signing.fingerprint(line)}']").count() == 0

    page.fill("textarea[name=raw_key]", line)
    page.fill("textarea[name=self_signature]", signing.self_signature(key))
    page.click("form[action='/keys'] button")
    page.wait_for_selector("text=Public key registered.")
    row = page.locator(f"tr[data-fingerprint='{signing.fingerprint(line)}']")
    assert "active" in row.inner_text()
    screenshot(page, "keys")
    row.locator("button:has-text('Revoke')").click()
    page.wait_for_selector("text=Public key revoked.")
    row = page.locator(f"tr[data-fingerprint='{signing.fingerprint(line)}']")
    assert "revoked" in row.inner_text()

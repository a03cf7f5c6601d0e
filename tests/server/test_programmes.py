"""One verdict per programme on the server: the target's and each add-on's.

The add-ons come from the signed manifest of a native submission, never from
the (unsigned) query; the server scores each programme with ``tcup.scoring``
exactly as ``tcup run`` does, stores the verdicts in the result's score and
shows them in the API and on the review page.  A refstack-client upload (no
manifest) keeps its one programme.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json

from server_helpers import ON_EVERY_DATABASE, refstack_client_post, signed
from sqlalchemy import func, select
from tcup_server.models import Result

from tcup import report, results, scoring, testlist

pytestmark = ON_EVERY_DATABASE

ADD_ONS = ["dns.2020.06", "orchestration.2020.06"]


def _plan(app):
    guidelines = app.state.tcup.guidelines
    main = guidelines.load("2020.06")
    add_ons = [guidelines.load(name) for name in ADD_ONS]
    return main, add_ons, testlist.plan(main, "platform", add_ons)


def _stream(app, failing: set[str]) -> bytes:
    """A subunit v2 stream (python-subunit, as stestr writes it) of every planned test."""
    import subunit

    _, _, plan = _plan(app)
    out = io.BytesIO()
    stream = subunit.StreamResultToBytes(out)
    clock = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for line in testlist.format_plan(plan, "refstack"):
        status = "fail" if line.split("[")[0] in failing else "success"
        stream.status(test_id=line, test_status="inprogress", timestamp=clock)
        clock += dt.timedelta(milliseconds=10)
        stream.status(test_id=line, test_status=status, timestamp=clock)
    return out.getvalue()


def _first_orchestration_test(app) -> tuple[str, str]:
    """(capability, test) of the first required Orchestration capability."""
    _, add_ons, _ = _plan(app)
    cap = add_ons[1].target_capabilities("orchestration", ("required",))[0]
    return cap.name, cap.tests[0].name


def _submission(app, stream: bytes, add_ons: list[str], cpid: str = "c0ffee") -> dict:
    run = results.read_subunit(stream)
    manifest = {
        "guideline": "2020.06",
        "guideline_sha256": app.state.tcup.guidelines.load("2020.06").sha256,
        "target": "platform",
        "add_ons": add_ons,
        "cpid": cpid,
    }
    return {
        "results": results.dump_refstack(results.refstack_body(run, cpid, 60)),
        "subunit": stream,
        "manifest": json.dumps(manifest).encode(),
    }


def _post(client, parts: dict[str, bytes], key, query: str = ""):
    from tcup.submission import Submission

    made = Submission.of(parts)
    body, content_type = made.multipart()
    headers = {**signed(made.envelope, key), "Content-Type": content_type}
    return client.post(f"/v1/tcup/results{query}", content=body, headers=headers)


def _staff_page(app, path: str) -> str:
    from fastapi.testclient import TestClient

    with TestClient(app) as pages:
        login = pages.post("/v1/auth/login", json={"name": "staff", "password": "password-staff"})
        assert login.status_code == 200, login.text
        page = pages.get(path)
        assert page.status_code == 200, page.text[:500]
        return page.text


def test_signed_manifest_add_ons_are_scored_per_programme_and_shown(client, actors, app):
    capability, test = _first_orchestration_test(app)
    stream = _stream(app, failing={test})
    parts = _submission(app, stream, ADD_ONS)
    response = _post(client, parts, actors["vendor_a"].key)
    assert response.status_code == 201, response.text
    test_id = response.json()["test_id"]

    # the same tcup.scoring code as tcup run, on the same stream
    main, add_ons, _ = _plan(app)
    expected = scoring.score_run(main, "platform", results.read_subunit(stream).states(), add_ons)
    want = report.report_json(expected)["programmes"]
    assert [(p["guideline"], p["qualifies"]) for p in want] == [
        ("2020.06", True),
        ("dns.2020.06", True),
        ("orchestration.2020.06", False),
    ]

    data = client.get(f"/v1/results/{test_id}", headers=actors["staff"].headers).json()
    assert data["add_ons"] == ADD_ONS
    assert data["programmes"] == want == data["score"]["programmes"]
    assert data["programmes"][2]["missing_required"] == [capability]
    assert data["qualifies"] is False and data["verdict"] == report.verdict(expected)
    assert data["verdict"].startswith("Would NOT qualify for all 3 programmes")
    with app.state.tcup.sessions() as session:
        row = session.get(Result, test_id)
        assert row.add_ons == ADD_ONS
        assert [p["qualifies"] for p in row.score["programmes"]] == [True, True, False]

    # staff read the three verdicts on the review page, and the list shows them too
    page = _staff_page(app, f"/results/{test_id}")
    for programme in want:
        assert html.escape(programme["verdict"]) in page
        assert f'data-guideline="{programme["guideline"]}"' in page
    assert 'data-guideline="dns.2020.06" data-kind="add-on" data-qualifies="yes"' in page
    assert 'data-guideline="orchestration.2020.06" data-kind="add-on" data-qualifies="no"' in page
    listing = _staff_page(app, "/results")
    assert "DNS add-on" in listing and "Orchestration add-on" in listing


def test_add_ons_never_come_from_the_query_of_a_signed_upload(client, actors, app):
    stream = _stream(app, failing=set())
    # the manifest names no add-on; the query tries to add one
    parts = _submission(app, stream, [])
    for query in ("?add_on=dns.2020.06", "?add_on=dns.2020.06,orchestration.2020.06"):
        refused = _post(client, parts, actors["vendor_a"].key, query)
        assert refused.status_code == 400, refused.text
        assert refused.json()["title"] == "Unsigned metadata refused"
        assert "add_on" in refused.json()["detail"]
    with app.state.tcup.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Result)) == 0

    stored = _post(client, parts, actors["vendor_a"].key)
    assert stored.status_code == 201, stored.text
    data = client.get(
        f"/v1/results/{stored.json()['test_id']}", headers=actors["vendor_a"].headers
    ).json()
    assert data["add_ons"] == []
    assert [p["guideline"] for p in data["programmes"]] == ["2020.06"]
    assert data["qualifies"] is True
    assert data["verdict"] == "Would qualify for OpenStack Powered Platform 2020.06"
    # the add-on tests in the stream count for nothing without a signed add-on
    assert {c["guideline"] for c in data["capabilities"]} == {"2020.06"}


def test_a_refstack_client_upload_keeps_its_one_programme(client, actors, app):
    stream = _stream(app, failing=set())
    body = json.loads(_submission(app, stream, [])["results"])
    data, headers = refstack_client_post(body, actors["vendor_b"].key)
    response = client.post("/v1/results", content=data, headers=headers)
    assert response.status_code == 201, response.text
    result = client.get(
        f"/v1/results/{response.json()['test_id']}", headers=actors["vendor_b"].headers
    ).json()
    assert result["add_ons"] == [] and result["score_basis"] == "passed"
    (programme,) = result["programmes"]
    assert programme["name"] == "OpenStack Powered Platform" and programme["qualifies"] is True
    assert result["verdict"] == programme["verdict"]
    page = _staff_page(app, f"/results/{response.json()['test_id']}")
    assert html.escape(programme["verdict"]) in page

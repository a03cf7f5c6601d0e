"""tcup-server db check / gc: records against stored artefacts, leftovers of a crash."""

from __future__ import annotations

import datetime as dt
import io

from server_helpers import signed
from tcup_server import cli
from tcup_server.models import Artefact, utcnow
from tcup_server.services import integrity


def _upload(client, actors, body: bytes) -> str:
    response = client.post(
        "/v1/results", content=body, headers=signed(body, actors["vendor_a"].key)
    )
    assert response.status_code == 201, response.text
    return response.json()["test_id"]


def test_leftovers_are_reported_and_only_old_ones_collected(client, actors, app, subunit_body):
    state = app.state.tcup
    test_id = _upload(client, actors, subunit_body)
    assert integrity.check(state.sessions, state.store).clean
    # what a crash between writing the artefacts and committing the record leaves
    state.store.put("results/zz/crashed/upload", b"{}")
    temp = state.settings.resolved_artefact_dir / "results" / "zz" / "crashed" / ".tmp-abc"
    temp.write_bytes(b"half-written")

    young = integrity.check(state.sessions, state.store)
    assert young.clean  # may still be an upload in flight
    assert sorted(young.recent_orphans) == [
        "results/zz/crashed/.tmp-abc",
        "results/zz/crashed/upload",
    ]
    assert integrity.collect_garbage(state.sessions, state.store) == []

    later = utcnow() + dt.timedelta(hours=2)
    old = integrity.check(state.sessions, state.store, now=later)
    assert not old.clean and len(old.orphan_objects) == 2
    removed = integrity.collect_garbage(state.sessions, state.store, now=later)
    assert sorted(removed) == sorted(old.orphan_objects)
    report = integrity.check(state.sessions, state.store, now=later)
    assert report.clean and report.results == 1 and report.artefacts == 1
    assert not temp.exists()
    # the stored result is untouched
    detail = client.get(f"/v1/results/{test_id}", headers=actors["vendor_a"].headers)
    assert detail.status_code == 200


def test_missing_object_makes_check_fail_on_the_command_line(
    client, actors, app, subunit_body, monkeypatch
):
    state = app.state.tcup
    test_id = _upload(client, actors, subunit_body)
    with state.sessions() as session:
        key = session.query(Artefact).filter_by(result_id=test_id).one().storage_key
    monkeypatch.setenv("TCUP_SERVER_DATA_DIR", str(state.settings.data_dir))
    monkeypatch.setenv("TCUP_SERVER_KEYS_DIR", str(state.settings.resolved_keys_dir))
    out = io.StringIO()
    assert cli.main(["db", "check"], stdout=out) == 0
    assert out.getvalue().splitlines()[-1] == "consistent"
    state.store.delete(key)
    out = io.StringIO()
    assert cli.main(["db", "check"], stdout=out) == 1
    assert f"artefact row whose object is missing: {key}" in out.getvalue()
    out = io.StringIO()
    assert cli.main(["db", "gc", "--older-than", "0"], stdout=out) == 0
    assert out.getvalue().strip() == "0 unreferenced artefact(s) removed"
    err = io.StringIO()
    assert cli.main(["db", "gc", "--older-than", "-1"], stdout=out, stderr=err) == 2
    assert "--older-than must not be negative" in err.getvalue()

"""RefStack's /v1/results/{id}/meta, /v1/results/schema and PUT /v1/results/{id}."""

from __future__ import annotations

import json

import jsonschema
import pytest
from server_helpers import signed
from tcup_server import db
from tcup_server.models import (
    AuditEvent,
    Organization,
    OrganizationMember,
    Product,
    ProductVersion,
)
from tcup_server.services.review import IN_REVIEW, move


@pytest.fixture
def result_of_a(client, actors, subunit_body) -> str:
    response = client.post(
        "/v1/results", content=subunit_body, headers=signed(subunit_body, actors["vendor_a"].key)
    )
    assert response.status_code == 201, response.text
    return response.json()["test_id"]


def test_schema_is_a_json_schema_that_accepts_real_bodies(client, subunit_body):
    response = client.get("/v1/results/schema")
    assert response.status_code == 200
    schema = response.json()
    jsonschema.Draft4Validator.check_schema(schema)
    jsonschema.validate(json.loads(subunit_body), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(subunit_body), "meta": {}}, schema)


def test_meta_views_by_role(client, actors, result_of_a):
    url = f"/v1/results/{result_of_a}/meta"
    owner = client.get(url, headers=actors["vendor_a"].headers)
    assert owner.status_code == 200
    assert owner.json() == {
        "guideline": "2020.06",
        "target": "platform",
        "user": "tcup:user:vendor_a",
    }
    assert client.get(url, headers=actors["staff"].headers).json()["user"] == "tcup:user:vendor_a"
    for who in ("anonymous", "vendor_b"):
        assert client.get(url, headers=actors[who].headers).status_code == 404
    item = client.get(url + "/target", headers=actors["vendor_a"].headers)
    assert item.status_code == 200 and item.json() == "platform"
    missing = client.get(url + "/shared", headers=actors["vendor_a"].headers)
    assert missing.status_code == 404


def test_owner_sets_and_deletes_writable_keys_and_target_rescores(client, actors, result_of_a):
    headers = actors["vendor_a"].headers
    url = f"/v1/results/{result_of_a}/meta"
    before = client.get(f"/v1/results/{result_of_a}", headers=headers).json()
    assert client.post(url + "/shared", content="true", headers=headers).status_code == 201
    assert client.get(url + "/shared", headers=headers).json() == "true"

    assert client.post(url + "/target", content="object", headers=headers).status_code == 201
    after = client.get(f"/v1/results/{result_of_a}", headers=headers).json()
    assert after["target"] == "object" and after["meta"]["target"] == "object"
    names = {c["name"] for c in after["capabilities"]}
    assert names != {c["name"] for c in before["capabilities"]}
    assert after["score"]["target"] == "OpenStack Powered Storage"
    assert any(n.startswith("objectstore") for n in names)

    assert client.delete(url + "/target", headers=headers).status_code == 204
    reverted = client.get(f"/v1/results/{result_of_a}", headers=headers).json()
    assert reverted["target"] == "platform"
    assert reverted["capabilities"] == before["capabilities"]
    assert client.delete(url + "/target", headers=headers).status_code == 404


def test_meta_refusals(client, actors, result_of_a, app):
    url = f"/v1/results/{result_of_a}/meta"
    owner = actors["vendor_a"].headers
    assert client.post(url + "/user", content="x", headers=owner).status_code == 403
    assert client.post(url + "/shared", content="", headers=owner).status_code == 400
    # another vendor and anonymous cannot even see it
    assert client.post(url + "/shared", content="true").status_code == 404
    response = client.post(url + "/shared", content="true", headers=actors["vendor_b"].headers)
    assert response.status_code == 404
    # staff may; once verified nobody may
    staff_set = client.post(url + "/shared", content="1", headers=actors["staff"].headers)
    assert staff_set.status_code == 201
    verified = client.put(
        f"/v1/results/{result_of_a}",
        json={"verification_status": 1, "confirm_not_qualifying": True},  # a partial run
        headers=actors["staff"].headers,
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["verification_status"] == 1
    for headers in (owner, actors["staff"].headers):
        assert client.post(url + "/shared", content="true", headers=headers).status_code == 403
        assert client.delete(url + "/guideline", headers=headers).status_code == 403
    with app.state.tcup.sessions() as session:
        actions = [e.action for e in session.query(AuditEvent).filter_by(result_id=result_of_a)]
    assert actions.count("meta") == 1 and actions.count("review") == 2


def test_put_verification_status_is_staff_only(client, actors, result_of_a):
    url = f"/v1/results/{result_of_a}"
    owner = client.put(url, json={"verification_status": 1}, headers=actors["vendor_a"].headers)
    assert owner.status_code == 403
    assert client.put(url, json={"verification_status": 1}).status_code == 404
    staff = actors["staff"].headers
    assert client.put(url, json={"verification_status": 2}, headers=staff).status_code == 400
    assert client.put(url, json={"nonsense": 1}, headers=staff).status_code == 400
    # the sample run does not qualify: verifying it needs the confirmation
    refused = client.put(url, json={"verification_status": 1}, headers=staff)
    assert refused.status_code == 409 and "does not qualify" in refused.json()["title"]
    assert client.get(url, headers=staff).json()["review_state"] == "submitted"  # rolled back
    bad = {"verification_status": 1, "confirm_not_qualifying": "yes"}
    assert client.put(url, json=bad, headers=staff).status_code == 400
    confirmed = {"verification_status": 1, "confirm_not_qualifying": True}
    assert client.put(url, json=confirmed, headers=staff).json()["review_state"] == "verified"
    # the owner cannot delete a verified result; staff withdraw the verification
    assert client.delete(url, headers=actors["vendor_a"].headers).status_code == 403
    back = client.put(url, json={"verification_status": 0}, headers=staff)
    assert back.status_code == 200
    assert back.json()["verification_status"] == 0 and back.json()["review_state"] == IN_REVIEW


def test_put_product_version(client, actors, result_of_a, app):
    with db.transaction(app.state.tcup.sessions) as session:
        versions = {}
        for vendor in ("vendor_a", "vendor_b"):
            org = Organization(name=f"{vendor}-inc")
            product = Product(name=f"cloud-{vendor}", organization=org)
            version = ProductVersion(product=product, version="1")
            member = OrganizationMember(organization=org, user_id=actors[vendor].user_id)
            session.add_all([org, product, version, member])
            session.flush()
            versions[vendor] = version.id
    url = f"/v1/results/{result_of_a}"
    owner = actors["vendor_a"].headers
    # vendor A is not a member of vendor B: refused, for staff too; unknown version: 404
    for headers in (owner, actors["staff"].headers):
        refused = client.put(
            url, json={"product_version_id": versions["vendor_b"]}, headers=headers
        )
        assert refused.status_code == 403, refused.text
    unknown = client.put(url, json={"product_version_id": "nope"}, headers=owner)
    assert unknown.status_code == 404
    assert client.put(url, json={"product_version_id": 7}, headers=owner).status_code == 400
    staff = client.put(
        url, json={"product_version_id": versions["vendor_a"]}, headers=actors["staff"].headers
    )
    assert staff.status_code == 200
    assert staff.json()["product_version"]["id"] == versions["vendor_a"]
    cleared = client.put(url, json={"product_version_id": None}, headers=owner)
    assert cleared.status_code == 200 and cleared.json()["product_version"] is None
    mine = client.put(url, json={"product_version_id": versions["vendor_a"]}, headers=owner)
    assert mine.status_code == 200 and mine.json()["product_version"]["id"] == versions["vendor_a"]


def test_verified_state_survives_review_service_moves(client, actors, result_of_a, app):
    """PUT verification_status=1 from in_review takes one move; the audit log says who."""
    with db.transaction(app.state.tcup.sessions) as session:
        from tcup_server.models import Result, User

        staff = session.query(User).filter_by(name="staff").one()
        move(session, session.get(Result, result_of_a), staff, IN_REVIEW)
    response = client.put(
        f"/v1/results/{result_of_a}",
        json={"verification_status": 1, "confirm_not_qualifying": True},
        headers=actors["staff"].headers,
    )
    assert response.json()["verification_status"] == 1
    with app.state.tcup.sessions() as session:
        events = session.query(AuditEvent).filter_by(result_id=result_of_a, action="review").all()
    assert [(e.from_state, e.to_state) for e in events] == [
        ("submitted", "in_review"),
        ("in_review", "verified"),
    ]
    assert events[-1].details == {"confirmed_not_qualifying": True, "verdict": "does not qualify"}

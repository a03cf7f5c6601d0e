"""One authorisation matrix for the API and the pages: who may see, change, delete, link,
review, publish and withdraw which result, asked through both doors.

Actors: anonymous, the uploader, a colleague (member of the uploader's vendor), a member
of another vendor, staff.  Results, each made fresh for its case: the uploader's own
(unlinked), one linked to the uploader's vendor, one linked to the *other* vendor (a link
made before links were checked: it must give that vendor nothing), one verified and one
published (both linked to the uploader's vendor).  The expectations below are written by
hand from docs/web.md ("Who sees what"); the pages and the API must both meet them,
on SQLite and (marked integration) on PostgreSQL.  On the pages an anonymous caller
is always sent to the login page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from server_helpers import fresh_postgres_database
from tcup_server import db
from tcup_server.app import create_app
from tcup_server.models import (
    Organization,
    OrganizationMember,
    Product,
    ProductVersion,
    Result,
    utcnow,
)
from tcup_server.services.accounts import create_token, create_user
from tcup_server.settings import load_settings

ACTORS = ("anonymous", "uploader", "colleague", "other", "staff")
KINDS = ("own", "linked", "cross", "verified", "published")

# Expected outcome per kind, one letter per actor in ACTORS order:
#   o allowed, h hidden (404, as an unknown id), f forbidden (403), c refused by the
#   result's state (409), - not asked (pages only: anonymous is sent to log in).
EXPECTED: dict[str, dict[str, str]] = {
    "see": {
        "own": "hohho",
        "linked": "hooho",
        "cross": "hohho",
        "verified": "hooho",
        "published": "ooooo",
    },
    "change_meta": {
        "own": "hohho",
        "linked": "hooho",
        "cross": "hohho",
        "verified": "hffhf",
        "published": "fffff",
    },
    "delete": {
        "own": "hohho",
        "linked": "hofho",
        "cross": "hohho",
        "verified": "hffhf",
        "published": "fffff",
    },
    "link": {
        "own": "hohho",
        "linked": "hooho",
        "cross": "hohho",
        "verified": "hffhf",
        "published": "fffff",
    },
    "review": {
        "own": "hfhho",
        "linked": "hffho",
        "cross": "hfhho",
        "verified": "hffho",
        "published": "ffffo",
    },
    "publish": {
        "own": "-chhf",
        "linked": "-cchf",
        "cross": "-chhf",
        "verified": "-oohf",
        "published": "-ccff",
    },
    "withdraw": {
        "own": "-chhc",
        "linked": "-cchc",
        "cross": "-chhc",
        "verified": "-cchc",
        "published": "-oofo",
    },
}
API_OPS = ("see", "change_meta", "delete", "link", "review")
PAGE_OPS = ("see", "link", "review", "publish", "withdraw")
STATUS = {"h": 404, "f": 403, "c": 409}


@dataclass
class World:
    app: object
    api: TestClient
    tokens: dict[str, dict[str, str]]  # actor -> API headers
    pages: dict[str, TestClient]  # actor -> browser-like client (session cookie)
    csrf: dict[str, str]  # actor -> form token
    user_ids: dict[str, int]
    versions: dict[str, str]  # "mine", "mine_2", "theirs"

    def result(self, kind: str, qualifies: bool = True) -> str:
        """A fresh result of ``kind``, uploaded by the uploader, written straight to the DB."""
        linked = {"linked": "mine", "cross": "theirs", "verified": "mine", "published": "mine"}
        with db.transaction(self.app.state.tcup.sessions) as session:
            row = Result(
                owner_id=self.user_ids["uploader"],
                cpid="c" * 32,
                duration_seconds=10,
                upload_sha256="0" * 64,
                guideline="2020.06",
                target="platform",
                meta={"guideline": "2020.06", "target": "platform"},
                score={"guideline": "2020.06", "qualifies": qualifies, "capabilities": []},
                qualifies=qualifies,
                verdict="qualifies" if qualifies else "does not qualify",
                review_state="verified" if kind in ("verified", "published") else "submitted",
                product_version_id=self.versions[linked[kind]] if kind in linked else None,
                published_at=utcnow() if kind == "published" else None,
            )
            session.add(row)
            session.flush()
            return row.id

    def snapshot(self, result_id: str) -> tuple | None:
        with self.app.state.tcup.sessions() as session:
            row = session.get(Result, result_id)
            if row is None:
                return None
            return (
                dict(row.meta or {}),
                row.product_version_id,
                row.review_state,
                row.published_at,
            )


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def world(request, tmp_path_factory, keys_dir, guideline_dir) -> Iterator[World]:
    """The matrix's server, users, vendors and sessions, on SQLite and on PostgreSQL."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_url")
        template = request.getfixturevalue("postgres_template")
        with fresh_postgres_database(server, template) as url:
            yield from _world(tmp_path_factory, keys_dir, guideline_dir, url)
    else:
        yield from _world(tmp_path_factory, keys_dir, guideline_dir, "")


def _world(tmp_path_factory, keys_dir, guideline_dir, database_url: str) -> Iterator[World]:
    settings = load_settings(
        environ={},
        database_url=database_url or None,
        data_dir=tmp_path_factory.mktemp("matrix") / "data",
        keys_dir=keys_dir,
        guideline_dir=guideline_dir,
        cookie_secure=False,
        public_url="http://testserver",
        results_per_page=1000,
    )
    engine = db.make_engine(settings.resolved_database_url)
    db.upgrade(engine)
    engine.dispose()
    app = create_app(settings)
    names = {"uploader": "ursula", "colleague": "colin", "other": "olga", "staff": "sam"}
    tokens: dict[str, dict[str, str]] = {"anonymous": {}}
    user_ids: dict[str, int] = {}
    with db.transaction(app.state.tcup.sessions) as session:
        for actor, name in names.items():
            user = create_user(session, name, f"password-{name}", staff=actor == "staff")
            tokens[actor] = {"Authorization": f"Bearer {create_token(session, name, 'matrix')}"}
            user_ids[actor] = user.id
        versions = {}
        for vendor, members, labels in (
            ("Mine Inc", ("uploader", "colleague"), ("mine", "mine_2")),
            ("Theirs Inc", ("other",), ("theirs",)),
        ):
            org = Organization(name=vendor)
            product = Product(name=f"{vendor} cloud", organization=org)
            session.add_all([org, product])
            for actor in members:
                session.add(OrganizationMember(organization=org, user_id=user_ids[actor]))
            for label in labels:
                version = ProductVersion(product=product, version=label)
                session.add(version)
                session.flush()
                versions[label] = version.id
    pages: dict[str, TestClient] = {}
    csrf: dict[str, str] = {}
    for actor in ACTORS:
        client = TestClient(app, follow_redirects=False)
        if actor == "anonymous":
            assert client.get("/login").status_code == 200
            csrf[actor] = client.cookies["tcup_presession"]
        else:
            name = names[actor]
            login = client.post(
                "/v1/auth/login", json={"name": name, "password": f"password-{name}"}
            )
            assert login.status_code == 200, login.text
            csrf[actor] = login.json()["csrf_token"]
        pages[actor] = client
    yield World(app, TestClient(app), tokens, pages, csrf, user_ids, versions)
    app.state.tcup.engine.dispose()


def _api(world: World, op: str, actor: str, result_id: str, kind: str):  # noqa: ANN202
    url, headers = f"/v1/results/{result_id}", world.tokens[actor]
    if op == "see":
        return world.api.get(url, headers=headers), 200
    if op == "change_meta":
        return world.api.post(url + "/meta/shared", content="true", headers=headers), 201
    if op == "delete":
        return world.api.delete(url, headers=headers), 204
    if op == "link":
        body = {"product_version_id": world.versions["mine_2"]}
        return world.api.put(url, json=body, headers=headers), 200
    assert op == "review"
    status = 0 if kind in ("verified", "published") else 1
    return world.api.put(url, json={"verification_status": status}, headers=headers), 200


def _page(world: World, op: str, actor: str, result_id: str):  # noqa: ANN202
    client, token = world.pages[actor], world.csrf[actor]
    if op == "see":
        return client.get(f"/results/{result_id}"), 200
    form = {"csrf_token": token}
    if op == "link":
        form["version_id"] = world.versions["mine_2"]
    if op == "review":
        form.update(to_state="in_review", reason="checked by the matrix")
    action = {"link": "link", "review": "review", "publish": "publish", "withdraw": "unpublish"}
    return client.post(f"/results/{result_id}/{action[op]}", data=form), 303


CASES = [
    pytest.param(surface, op, kind, actor, id=f"{surface}-{op}-{kind}-{actor}")
    for surface, ops in (("api", API_OPS), ("page", PAGE_OPS))
    for op in ops
    for kind in KINDS
    for actor in ACTORS
    if EXPECTED[op][kind][ACTORS.index(actor)] != "-"
]


@pytest.mark.parametrize(("surface", "op", "kind", "actor"), CASES)
def test_matrix(world: World, surface: str, op: str, kind: str, actor: str) -> None:
    result_id = world.result(kind)
    before = world.snapshot(result_id)
    expected = EXPECTED[op][kind][ACTORS.index(actor)]
    if surface == "api":
        response, ok_status = _api(world, op, actor, result_id, kind)
    else:
        response, ok_status = _page(world, op, actor, result_id)
    if surface == "page" and actor == "anonymous":
        assert response.status_code == 303, response.text[:300]
        assert response.headers["location"].startswith("/login")
        assert world.snapshot(result_id) == before
        return
    wanted = ok_status if expected == "o" else STATUS[expected]
    assert response.status_code == wanted, response.text[:400]
    changed = world.snapshot(result_id) != before
    if op == "see":
        assert not changed
    else:
        assert changed == (expected == "o"), (before, world.snapshot(result_id))
    if surface == "page" and expected == "o" and op != "see":
        assert response.headers["location"].startswith(f"/results/{result_id}?done=")


def _private_shown(world: World, actor: str, result_id: str) -> tuple[bool, bool]:
    """Whether the API answer and the page show the result's private facts (cpid)."""
    api = world.api.get(f"/v1/results/{result_id}", headers=world.tokens[actor]).json()
    page = world.pages[actor].get(f"/results/{result_id}").text
    return "cpid" in api, "c" * 32 in page


@pytest.mark.parametrize("actor", ACTORS[1:])
def test_private_facts_on_both_doors(world: World, actor: str) -> None:
    """A published result shows everyone its verdict; its cpid, uploader and key only to
    staff and the owner side, on the page and in the API alike."""
    result_id = world.result("published")
    private = actor in ("uploader", "colleague", "staff")
    assert _private_shown(world, actor, result_id) == (private, private)
    page = world.pages[actor].get(f"/results/{result_id}").text
    assert ("ursula" in page) == private  # the uploader's name
    assert ('id="audit"' in page) == private


def _listed(world: World, actor: str) -> tuple[set[str], set[str]]:
    api = world.api.get("/v1/results", headers=world.tokens[actor]).json()
    page = world.pages[actor].get("/results").text
    return {r["id"] for r in api["results"]}, set(re.findall(r'data-id="([0-9a-f-]{36})"', page))


def test_lists_agree_with_the_matrix(world: World) -> None:
    made = {kind: world.result(kind) for kind in KINDS}
    for actor in ACTORS[1:]:
        api, page = _listed(world, actor)
        may = {made[k] for k in KINDS if EXPECTED["see"][k][ACTORS.index(actor)] == "o"}
        assert api & set(made.values()) == may, actor
        assert page & set(made.values()) == may, actor
    anonymous = world.api.get("/v1/results").json()["results"]
    assert {r["id"] for r in anonymous} & set(made.values()) == {made["published"]}


def test_no_door_links_a_result_to_another_vendor(world: World) -> None:
    """Staff (and the owner side) may link only to the uploader's vendor, API and page alike."""
    for actor in ("uploader", "staff"):
        result_id = world.result("own")
        theirs = world.versions["theirs"]
        api = world.api.put(
            f"/v1/results/{result_id}",
            json={"product_version_id": theirs},
            headers=world.tokens[actor],
        )
        page = world.pages[actor].post(
            f"/results/{result_id}/link",
            data={"csrf_token": world.csrf[actor], "version_id": theirs},
        )
        assert (api.status_code, page.status_code) == (403, 403), (api.text, page.text[:300])
        assert world.snapshot(result_id)[1] is None


def test_verifying_a_result_that_does_not_qualify_needs_a_confirmation(world: World) -> None:
    """Both doors refuse (409) until the reviewer confirms; the audit log records it; such
    a result is never published."""
    from tcup_server.models import AuditEvent

    staff = world.pages["staff"]
    page_id, api_id = world.result("linked", qualifies=False), world.result("linked", False)
    form = {"csrf_token": world.csrf["staff"], "reason": "authentic partial run"}
    started = staff.post(f"/results/{page_id}/review", data={**form, "to_state": "in_review"})
    assert started.status_code == 303
    shown = staff.get(f"/results/{page_id}").text
    assert 'name="confirm_not_qualifying"' in shown
    verify = {**form, "to_state": "verified"}
    refused = staff.post(f"/results/{page_id}/review", data=verify)
    assert refused.status_code == 409 and "does not qualify" in refused.text
    assert world.snapshot(page_id)[2] == "in_review"
    done = staff.post(
        f"/results/{page_id}/review", data={**verify, "confirm_not_qualifying": "yes"}
    )
    assert done.status_code == 303 and world.snapshot(page_id)[2] == "verified"
    assert "verified although it does not qualify" in staff.get(f"/results/{page_id}").text

    url, headers = f"/v1/results/{api_id}", world.tokens["staff"]
    refused = world.api.put(url, json={"verification_status": 1}, headers=headers)
    assert refused.status_code == 409 and world.snapshot(api_id)[2] == "submitted"
    body = {"verification_status": 1, "confirm_not_qualifying": True}
    assert world.api.put(url, json=body, headers=headers).status_code == 200
    with world.app.state.tcup.sessions() as session:
        for result_id in (page_id, api_id):
            event = (
                session.query(AuditEvent)
                .filter_by(result_id=result_id, action="review", to_state="verified")
                .one()
            )
            assert event.details == {
                "confirmed_not_qualifying": True,
                "verdict": "does not qualify",
            }
    publish = world.pages["uploader"].post(
        f"/results/{page_id}/publish", data={"csrf_token": world.csrf["uploader"]}
    )
    assert publish.status_code == 409 and "cannot be published" in publish.text
    assert world.snapshot(page_id)[3] is None

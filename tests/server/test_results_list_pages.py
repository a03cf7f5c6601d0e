"""Numbered pages of results (API and submissions page): every page, first to last, holds
what ``ORDER BY created_at DESC, id OFFSET ..`` gives, whichever end it is read from."""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid

import pytest
from server_helpers import ON_EVERY_DATABASE
from sqlalchemy import insert, select
from tcup_server.models import Result
from tcup_server.services import listing

pytestmark = ON_EVERY_DATABASE

TOTAL = 23  # per page 5 (conftest): four full pages and a last one of three


def seed(app, owner_id: int | None) -> None:
    """``TOTAL`` results, several sharing a second (the id breaks the tie), every third the
    owner's, every fifth published."""
    base = dt.datetime(2026, 1, 1)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "owner_id": owner_id if i % 3 == 0 else None,
            "cpid": f"c{i}",
            "duration_seconds": 1,
            "upload_sha256": "0" * 64,
            "meta": {},
            "review_state": "submitted",
            "created_at": base + dt.timedelta(seconds=i // 3),
            "published_at": base if i % 5 == 0 else None,
        }
        for i in range(TOTAL)
    ]
    with app.state.tcup.engine.begin() as conn:
        conn.execute(insert(Result), rows)


def reference(app, where) -> list[str]:
    with app.state.tcup.sessions() as session:
        query = select(Result.id).where(*where).order_by(Result.created_at.desc(), Result.id)
        return list(session.scalars(query))


@pytest.mark.parametrize("per_page", [1, 4, 5, 7, 23, 30])
def test_every_page_is_the_offset_page(app, actors, per_page):
    seed(app, actors["vendor_a"].user_id)
    for where in ([], [Result.owner_id == actors["vendor_a"].user_id]):
        expected = reference(app, where)
        with app.state.tcup.sessions() as session:
            total = listing.count(session, where)
            assert total == len(expected)
            pages = [
                [r.id for r in listing.page_of(session, where, page, per_page, total)]
                for page in range(1, math.ceil(total / per_page) + 2)
            ]
        assert pages[-1] == []  # one past the last
        for number, page in enumerate(pages[:-1]):
            assert page == expected[number * per_page : (number + 1) * per_page], number + 1


def test_api_pages_first_to_last(client, app, actors):
    seed(app, actors["vendor_a"].user_id)
    for who in ("staff", "vendor_a"):
        headers = actors[who].headers
        first = client.get("/v1/results", headers=headers).json()
        pages = first["pagination"]["total_pages"]
        listed = [r["id"] for r in first["results"]]
        for page in range(2, pages + 1):
            answer = client.get(f"/v1/results?page={page}", headers=headers).json()
            assert answer["pagination"] == {"current_page": page, "total_pages": pages}
            listed += [r["id"] for r in answer["results"]]
        visible = reference(app, [])
        if who == "vendor_a":
            with app.state.tcup.sessions() as session:
                mine = {
                    r.id
                    for r in session.scalars(select(Result))
                    if r.owner_id == actors[who].user_id or r.published_at is not None
                }
            visible = [i for i in visible if i in mine]
        assert listed == visible
        assert pages == math.ceil(len(visible) / 5)
        beyond = client.get(f"/v1/results?page={pages + 1}", headers=headers)
        assert beyond.status_code == 400
        assert beyond.json()["title"] == f"Page number {pages + 1} is out of range (1-{pages})"


def test_submissions_page_lists_the_same_pages(client, app, actors):
    seed(app, actors["vendor_a"].user_id)
    login = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)[1]
    client.post(
        "/login",
        data={"username": "staff", "password": "password-staff", "csrf_token": csrf},
        follow_redirects=False,
    )
    expected = reference(app, [])
    shown: list[str] = []
    for page in range(1, math.ceil(TOTAL / 5) + 1):
        html = client.get(f"/results?page={page}").text
        shown += re.findall(r'data-id="([0-9a-f-]{36})"', html)
    assert shown == expected

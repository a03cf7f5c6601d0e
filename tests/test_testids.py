"""tcup.testids: RefStack names and the two uuid readers (upload vs. matching)."""

from __future__ import annotations

import pytest

from tcup.testids import match_uuid, refstack_name, upload_uuid


@pytest.mark.parametrize(
    ("test_id", "name"),
    [
        (
            "a.b.C.test_x[compute,id-4111c5a6-7f85-4c8a-9d1c-0b0c7c2d1b1e,network](ipv6)",
            "a.b.C.test_x(ipv6)",
        ),
        ("a.b.C.test_x[id-1234,smoke]", "a.b.C.test_x"),
        ("a.b.C.test_x", "a.b.C.test_x"),
        ("a.b.C.test_x(ipv4)", "a.b.C.test_x(ipv4)"),
        ("a.b.C.test_x[]", "a.b.C.test_x"),
        # greedy: with two groups everything from the first "[" to the last "]" goes,
        # including a scenario suffix between them (as refstack-client does)
        ("a.b.C.test_x[id-1](s)[smoke]", "a.b.C.test_x"),
        ("a.b.C.test_x[id-1][smoke](s)", "a.b.C.test_x(s)"),
    ],
)
def test_refstack_name_follows_refstack_client(test_id: str, name: str) -> None:
    assert refstack_name(test_id) == name


@pytest.mark.parametrize(
    ("test_id", "uuid"),
    [
        (
            "a.C.t[compute,id-4111c5a6-7f85-4c8a-9d1c-0b0c7c2d1b1e,network](ipv6)",
            "4111c5a6-7f85-4c8a-9d1c-0b0c7c2d1b1e",
        ),
        ("a.C.t[id-abc]", "abc"),
        ("a.C.t[smoke,negative]", None),
        ("a.C.t", None),
        ("a.C.t[smoke][id-second-group]", None),  # only the first group counts
        ("a.C.t[id-first,id-second]", "first"),
    ],
)
def test_upload_uuid_is_first_id_attribute_of_first_group(test_id: str, uuid: str | None) -> None:
    assert upload_uuid(test_id) == uuid


def test_match_uuid_searches_the_bracket_span_and_lowercases():
    test_id = "a.b.C.test_x[compute,id-4111ABCD-0000,network](ipv6)"
    assert refstack_name(test_id) == "a.b.C.test_x(ipv6)"
    assert match_uuid(test_id) == "4111abcd-0000"
    assert match_uuid("a.b.C.test_x") is None
    assert match_uuid("a.b.C.test_x[smoke]") is None


def test_the_two_uuid_readers_differ_where_documented() -> None:
    # the upload keeps refstack-client's verbatim answer; matching wants a comparable hex uuid
    assert upload_uuid("a.C.t[id-ABC1]") == "ABC1"
    assert match_uuid("a.C.t[id-ABC1]") == "abc1"
    assert upload_uuid("a.C.t[id-not-a-uuid]") == "not-a-uuid"
    assert match_uuid("a.C.t[id-not-a-uuid]") is None

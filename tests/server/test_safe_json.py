"""``tcup_server.safe_json``: the nesting measure and the BOM rule of upload bodies."""

from __future__ import annotations

import codecs
import itertools
import json

import pytest
from tcup_server import safe_json


def _regex_without_strings(data: bytes) -> bytes:
    return safe_json._STRING.sub(b"", data)


def test_strings_are_taken_out_as_the_regular_expression_does():
    # every short text of these bytes, with and without escapes, complete or not
    alphabet = (b"[", b"]", b"{", b"}", b'"', b"a", b",")
    for size in range(7):
        for pieces in itertools.product(alphabet, repeat=size):
            data = b"".join(pieces)
            assert safe_json._without_strings(data) == _regex_without_strings(data), data
    for data in (b'["a\\"[[[", "]"]', b'["\\\\", "[[["]', b'"\\u005b"[', b'["x"\\'):
        assert safe_json._without_strings(data) == _regex_without_strings(data), data


@pytest.mark.parametrize(
    ("data", "deep"),
    [
        (b"[" * 33 + b"]" * 33, True),
        (b"[" * 32 + b"]" * 32, False),
        (b'["' + b"[" * 100 + b'"]', False),  # brackets in a string do not nest
        (b'["\\"' + b"[" * 100 + b'"]', False),  # nor after an escaped quote
        (b'["\\\\"' + b"," + b"[" * 40, True),  # an escaped backslash ends no string
        (b'"' + b"[" * 100, True),  # an unterminated string is measured as it stands
        (json.dumps([{"name": f"t{i}["} for i in range(300)]).encode(), False),
    ],
)
def test_nesting_is_measured_outside_strings(data, deep):
    assert safe_json.nesting_exceeds(data) is deep


BODY = b'{"cpid": "x", "duration_seconds": 1, "results": [{"name": "t"}]}'


def test_a_bom_is_allowed_by_default():
    assert safe_json.loads(codecs.BOM_UTF8 + BODY) == json.loads(BODY)


def test_without_bom_a_safe_body_fails_as_the_upload_reader_does():
    from tcup import results

    with pytest.raises(json.JSONDecodeError) as ours:
        safe_json.loads(codecs.BOM_UTF8 + BODY, bom=False)
    assert not isinstance(ours.value, safe_json.UnsafeJson)
    with pytest.raises(results.ResultsFormatError) as reader:
        results.load_refstack(codecs.BOM_UTF8 + BODY)
    assert ours.value.msg in reader.value.message
    assert safe_json.loads(BODY, bom=False) == results.load_refstack(BODY)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 40 + b"]" * 40,
        b'{"n": 1180591620717411303424}',
        b'{"n": NaN}',
        b'{"n": "\\u0000"}',
    ],
)
def test_without_bom_an_unsafe_body_is_still_unsafe(body):
    with pytest.raises(safe_json.UnsafeJson):
        safe_json.loads(codecs.BOM_UTF8 + body, bom=False)
    with pytest.raises(safe_json.UnsafeJson):
        safe_json.loads(body, bom=False)

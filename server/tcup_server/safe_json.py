"""A JSON loader for untrusted bodies: bounded nesting, bounded integers, storable strings.

``json.loads`` alone lets a caller send a body nested 100 000 levels deep
(``RecursionError``), integers no database column holds (``2**70`` ->
``OverflowError``), non-finite numbers (``Infinity``, ``1e999``), and strings
that no database stores: a NUL (PostgreSQL refuses it) or a lone surrogate
such as ``"\\ud800"`` (not encodable as UTF-8, so neither SQLite nor
PostgreSQL takes it).  :func:`loads` refuses all of these with
:class:`UnsafeJson`, which names the problem and where it is:

* nesting is measured on the raw text *before* it is parsed, without
  recursion, so a deep body never reaches the parser;
* integers are checked on their digits before they are converted, and must
  lie within +/- (2**53 - 1), the range every JSON reader and both databases
  agree on; floats must be finite;
* every string, keys included, must be encodable as UTF-8 and free of NUL.

``UnsafeJson`` is a ``ValueError``, as ``json.JSONDecodeError`` is, so code
that already refuses malformed JSON with ``except ValueError`` refuses these
bodies too.  A body that is not JSON at all raises ``json.JSONDecodeError``
unchanged, for the caller's own message.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32  # a RefStack body is 3 deep, a tcup manifest or extended result under 8
MAX_SAFE_INTEGER = 2**53 - 1
_MAX_DIGITS = len(str(MAX_SAFE_INTEGER))

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DELTA = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes
_CHUNK = 1 << 20
# In strict UTF-8 text a NUL or a lone surrogate can only come from an escape.
_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]")


class UnsafeJson(ValueError):
    """A JSON document this server will not parse or store; ``reason`` says why."""

    def __init__(self, reason: str, where: str = "") -> None:
        self.reason = reason
        self.where = where
        where = where if len(where) <= 120 else where[:117] + "..."
        super().__init__(f"{reason} at {where}" if where else reason)


def _without_strings(data: bytes) -> bytes:
    """``data`` with every complete string literal (quotes included) taken out.

    Without a backslash no quote is escaped, so the strings are every other
    piece between quotes: splitting on them does in C what the regular
    expression does string by string (an unterminated last string stays, as
    the expression leaves it).
    """
    if b"\\" in data:
        return _STRING.sub(b"", data)
    pieces = data.split(b'"')
    if len(pieces) % 2:  # an even number of quotes: every string is complete
        return b"".join(pieces[0::2])
    return b"".join(pieces[0::2]) + b'"' + pieces[-1]


def nesting_exceeds(data: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """True if the brackets of ``data`` nest deeper than ``max_depth`` (no parsing, no recursion).

    Strings are blanked out, every other byte but brackets dropped, and the
    running depth summed in C (``accumulate`` over signed bytes) one chunk at
    a time, stopping at the first chunk that goes too deep.  At a closing
    bracket without its opening one the text stops being JSON, and the parser
    stops there too: nothing after it is measured.
    """
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    skeleton = _without_strings(data).translate(_DELTA, _NOT_BRACKETS)
    view = memoryview(skeleton).cast("b")
    depth = 0
    for start in range(0, len(view), _CHUNK):
        sums = list(accumulate(view[start : start + _CHUNK], initial=depth))
        if max(sums) > max_depth:
            return True
        if min(sums) < 0:
            return False  # unbalanced here: json.loads fails here, no deeper
        depth = sums[-1]
    return False


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS or abs(number := int(text)) > MAX_SAFE_INTEGER:
        raise UnsafeJson(
            f"integer {text[:24]}{'...' if len(text) > 24 else ''} is out of range "
            f"(at most {MAX_SAFE_INTEGER} in absolute value)"
        )
    return number


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise UnsafeJson(f"number {text[:24]} is out of range")
    return number


def _parse_constant(name: str) -> float:
    raise UnsafeJson(f"{name} is not a JSON number")


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "a string contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a string contains a lone surrogate (not valid Unicode text)"
    return None


def check_strings(value: Any) -> None:
    """Refuse a NUL or a lone surrogate anywhere in ``value`` (keys included); no recursion."""
    stack: list[tuple[Any, str]] = [(value, "$")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if problem := _string_problem(item):
                raise UnsafeJson(problem, where)
        elif isinstance(item, dict):
            for key, inner in item.items():
                if problem := _string_problem(key):
                    raise UnsafeJson(problem.replace("a string", "a key"), where)
                stack.append((inner, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((inner, f"{where}[{i}]") for i, inner in enumerate(item))


def loads(data: bytes | str, max_depth: int = MAX_DEPTH, *, bom: bool = True) -> Any:
    """Parse untrusted JSON within the bounds above; ``UnsafeJson`` if it is outside them.

    Bytes must be UTF-8: ``json.loads`` would also take UTF-16 and surrogates
    written as raw bytes, which no database stores.  A UTF-8 BOM is allowed,
    as ``json.loads`` of bytes (FastAPI's parser) allows it; with ``bom=False``
    the document is read as strict UTF-8 JSON, the rule of the upload body
    reader (``tcup.results.load_refstack``): a body that is safe but starts with
    a BOM raises the ``json.JSONDecodeError`` that reader gets, so that its
    caller answers it in its own words.  The bounds are checked first either way.
    """
    if isinstance(data, str):
        text = data
        raw = data.encode("utf-8", "surrogatepass")
        if _string_problem(data):
            check_strings(data)  # raises with the reason
    else:
        raw = data
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnsafeJson(f"the body is not UTF-8 text (byte {exc.start})") from None
    if nesting_exceeds(raw, max_depth):
        raise UnsafeJson(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except RecursionError:  # cannot happen after the depth check; never let it out as a 500
        raise UnsafeJson(f"JSON nested deeper than {max_depth} levels") from None
    if _SUSPECT.search(raw):  # else no string can hold a NUL or a lone surrogate
        check_strings(value)
    if not bom and raw.startswith(codecs.BOM_UTF8):  # json.loads' own words for it
        raise json.JSONDecodeError(
            "Unexpected UTF-8 BOM (decode using utf-8-sig)", raw.decode("utf-8"), 0
        )
    return value

"""Reading a JSON results file: one error listing every problem by its path."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tcup.errors import InputError


class ResultsFormatError(InputError):
    """A results file that does not validate; ``problems`` lists each one by path."""

    def __init__(self, source: str, what: str, problems: Iterable[str], hint: str | None = None):
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"invalid {what} '{source}': {count} {noun}:\n{listing}", hint=hint)


def load_json(data: bytes, source: str, what: str, hint: str) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsFormatError(
            source, what, [f"not UTF-8 text (byte {exc.start})"], hint=hint
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise ResultsFormatError(source, what, [problem], hint=hint) from exc


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def json_repr(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def json_path(path: Iterable[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"

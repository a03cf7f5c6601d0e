"""RefStack's rules for Tempest test ids: the name and the idempotent id.

A Tempest test id looks like
``tempest.api.compute.test_x.T.test_y[compute,id-4111...,network](ipv6)``:
the bracket group carries attributes (one of them ``id-<uuid>``), an optional
``(scenario)`` suffix follows.

* ``refstack_name`` is the name RefStack stores and guidelines list: every
  ``[...]`` removed with refstack-client's greedy pattern ``\\[.*\\]`` (with
  two bracket groups everything from the first ``[`` to the last ``]`` goes,
  including a scenario suffix between them); a trailing scenario is kept.

Two uuid readers remain on purpose, because their callers need different
answers for odd ids:

* ``upload_uuid`` is what refstack-client puts in an upload body: the first
  ``id-`` attribute of the *first* bracket group, verbatim.  Uploads must
  match what refstack-client would send for the same stream.
* ``match_uuid`` is for finding a planned test among the ids a local Tempest
  lists: an ``id-<hex>`` attribute anywhere between the first ``[`` and the
  last ``]``, lowercased, so it compares equal to a guideline's
  ``idempotent_id`` whatever the case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

_BRACKETS = re.compile(r"\[.*\]")  # greedy on purpose: refstack-client's pattern
_FIRST_GROUP = re.compile(r"\[([^\]]*)\]")
_ID_ATTR = re.compile(r"(?:^|,)\s*id-([0-9A-Fa-f-]+)\s*(?:,|$)")


def refstack_name(test_id: str) -> str:
    """The RefStack name of a test id: brackets removed, scenario suffix kept."""
    return _BRACKETS.sub("", test_id)


def upload_uuid(test_id: str) -> str | None:
    """The first ``id-`` attribute of the first bracket group, prefix removed (refstack-client)."""
    match = _FIRST_GROUP.search(test_id)
    if not match:
        return None
    for attribute in match.group(1).split(","):
        if attribute.startswith("id-"):
            return attribute[len("id-") :]
    return None


def match_uuid(test_id: str) -> str | None:
    """The lowercase uuid of an ``id-<uuid>`` attribute anywhere in the brackets, if any."""
    start = test_id.find("[")
    end = test_id.rfind("]")
    if start < 0 or end < start:
        return None
    found = _ID_ATTR.search(test_id[start + 1 : end])
    return found.group(1).lower() if found else None


#: the state of a planned test that this Tempest has under no name, alias or idempotent id
NOT_IN_TEMPEST = "not in tempest"


class TestStates(dict):
    """Test states by RefStack name, and which names ran under each idempotent id.

    A plain ``name -> state`` dict wherever states are read; ``by_uuid``
    (bare lowercase uuid -> names, in the order seen) lets scoring find a
    test the guideline lists under a name Tempest has since renamed.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        states: Mapping[str, str] | None = None,
        by_uuid: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(states or {})
        self.by_uuid: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (by_uuid or {}).items()}

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str | None, str]]) -> TestStates:
        """From ``(name, uuid, state)`` entries whose states are already merged per name."""
        states: dict[str, str] = {}
        by_uuid: dict[str, list[str]] = {}
        for name, uuid, state in entries:
            states[name] = state
            if uuid:
                names = by_uuid.setdefault(uuid.lower().removeprefix("id-"), [])
                if name not in names:
                    names.append(name)
        return cls(states, by_uuid)

    def without(self, names: Iterable[str]) -> TestStates:
        """A copy without ``names`` (the idempotent ids still point at what remains)."""
        dropped = set(names)
        return TestStates(
            {k: v for k, v in self.items() if k not in dropped},
            {u: [n for n in ns if n not in dropped] for u, ns in self.by_uuid.items()},
        )


def names_for_uuid(states: Mapping[str, str], uuid: str | None) -> tuple[str, ...]:
    """The names that ran under idempotent id ``uuid`` (none for a plain mapping)."""
    if not uuid:
        return ()
    by_uuid = getattr(states, "by_uuid", None) or {}
    return tuple(by_uuid.get(uuid.lower().removeprefix("id-"), ()))

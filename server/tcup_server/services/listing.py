"""Numbered pages of results, newest first, as fast on the last page as on the first.

The API (``GET /v1/results``, RefStack's ``page`` and ``total_pages``) and the
submissions page list results by page number.  ``OFFSET`` pagination reads and
sorts every row before the page, so late pages of a large table were slow.
Here a page is read in two steps:

* its ids only, from the index on ``(created_at DESC, id)`` (``ix_results_created_id``),
  which is in the list's order, so no sort and no row is read for the skipped ones;
  and from whichever end of that order is nearer: the last page skips nothing;
* then the rows of those ids only.

Same order, same pages, same answers as ``ORDER BY created_at DESC, id OFFSET ..``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from tcup_server.models import Result

NEWEST_FIRST = (Result.created_at.desc(), Result.id)
OLDEST_FIRST = (Result.created_at.asc(), Result.id.desc())  # NEWEST_FIRST read backwards


def count(db: Session, where: Sequence[ColumnElement[bool]]) -> int:
    """How many results match ``where``."""
    return db.scalar(select(func.count()).select_from(Result).where(*where)) or 0


def page_of(
    db: Session,
    where: Sequence[ColumnElement[bool]],
    page: int,
    per_page: int,
    total: int,
    options: Sequence[Any] = (),
) -> list[Result]:
    """Page ``page`` (from 1) of the results matching ``where``, newest first.

    ``total`` is :func:`count` of ``where``; ``options`` are loader options for the rows.
    """
    start = (page - 1) * per_page
    end = min(start + per_page, total)
    if start >= end:
        return []
    ids = select(Result.id).where(*where)
    if start <= total - end:
        order = list(db.scalars(ids.order_by(*NEWEST_FIRST).offset(start).limit(end - start)))
    else:
        backwards = ids.order_by(*OLDEST_FIRST).offset(total - end).limit(end - start)
        order = list(db.scalars(backwards))[::-1]
    rows = {
        r.id: r for r in db.scalars(select(Result).where(Result.id.in_(order)).options(*options))
    }
    return [rows[i] for i in order if i in rows]  # one deleted since is left out

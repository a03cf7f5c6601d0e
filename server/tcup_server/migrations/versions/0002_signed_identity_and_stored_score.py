"""The signed identity of an upload, and the score stored at ingest

``results.signed_digest`` is the identity of a signed upload: the sha256 of the
signing key's fingerprint and the digest of the signed content.  Its unique
constraint makes a replay of the same signed content return the first record,
also when two replays race (no check-then-insert).

``results.verdict`` is the verdict line of the score computed at ingest (the
per-capability outcomes are in ``results.score``), and ``results.score_basis``
says what that score was computed from: ``states`` (every test's state, from a
subunit stream or extended results) or ``passed`` (a RefStack body, which lists
passed tests only).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signed_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("verdict", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("score_basis", sa.String(length=16), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_results_signed_digest"), ["signed_digest"])


def downgrade() -> None:
    with op.batch_alter_table("results", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_results_signed_digest"), type_="unique")
        batch_op.drop_column("score_basis")
        batch_op.drop_column("verdict")
        batch_op.drop_column("signed_digest")

"""The results lists' index: (created_at DESC, id), in the lists' order

Replaces ``ix_results_created_at`` (created_at alone): a page of results is
read from the index alone, from either end (``tcup_server/services/listing.py``).
On PostgreSQL it also holds the columns of who may see a row (owner, published,
product version), so a vendor's list and count need no table row either.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_results_created_id",
        "results",
        [sa.text("created_at DESC"), "id"],
        postgresql_include=["owner_id", "published_at", "product_version_id"],
    )
    op.drop_index("ix_results_created_at", table_name="results")


def downgrade() -> None:
    op.create_index("ix_results_created_at", "results", ["created_at"])
    op.drop_index("ix_results_created_id", table_name="results")

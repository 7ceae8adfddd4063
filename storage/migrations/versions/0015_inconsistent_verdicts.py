"""PostgreSQL's index of inconsistent pairs also holds their verdicts

"Inconsistent and disagreeing with the reference" counted its matches by reading the wide pair
rows (prompts and responses inline) that the index of inconsistent pairs pointed to: about
83,000 rows, 110 MB, for 10,000 matches at a million pairs (127 ms). With the latest label and
the reference label in the index (INCLUDE), PostgreSQL answers the count from the index alone.
SQLite has no INCLUDE, and its count was already quick (26 ms): its index stays as it was.

Revision ID: 0015_inconsistent_verdicts
Revises: 0014_dataset_pair_count
Create Date: 2026-12-04 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_inconsistent_verdicts"
down_revision = "0014_dataset_pair_count"
branch_labels = None
depends_on = None

_WHERE = "latest_consistent = false"


def _rebuild(include: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_pairs_inconsistent", "pairs")
    op.create_index(
        "ix_pairs_inconsistent",
        "pairs",
        ["dataset_id", "id"],
        postgresql_where=sa.text(_WHERE),
        postgresql_include=include,
    )


def upgrade() -> None:
    _rebuild(["latest_label", "reference_label"])


def downgrade() -> None:
    _rebuild([])

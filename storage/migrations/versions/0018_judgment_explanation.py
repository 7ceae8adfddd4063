"""judgments.explanation: a rationale written afterwards for the verdict's label by the generative
model (told the label), for verdicts of a judge head or the fast path, which give none

Revision ID: 0018_judgment_explanation
Revises: 0017_rationale_seen
Create Date: 2026-12-08 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_judgment_explanation"
down_revision = "0017_rationale_seen"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch copy of the table would drop the triggers the store keeps on it.
    op.add_column("judgments", sa.Column("explanation", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("judgments", recreate="never") as batch:  # keeps its triggers
        batch.drop_column("explanation")

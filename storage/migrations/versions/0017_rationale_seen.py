"""reviews.rationale_seen: whether the judgment's rationale was on the person's screen when they
labelled; a model rationale becomes a training target only where it was

Revision ID: 0017_rationale_seen
Revises: 0016_job_owner
Create Date: 2026-12-08 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_rationale_seen"
down_revision = "0016_job_owner"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Reviews from before have no record of it: NULL, read as "not seen" (nothing is assumed).
    # A plain ADD COLUMN: a batch copy of the table would drop the triggers the store keeps on it.
    op.add_column("reviews", sa.Column("rationale_seen", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reviews", recreate="never") as batch:  # keeps its triggers
        batch.drop_column("rationale_seen")

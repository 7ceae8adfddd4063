"""judgments.options_key: which judging options a verdict was made with

Revision ID: 0003_judgment_options_key
Revises: 0002_review_events_index
Create Date: 2026-12-02 13:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_judgment_options_key"
down_revision = "0002_review_events_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("judgments") as batch:
        batch.add_column(sa.Column("options_key", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("judgments") as batch:
        batch.drop_column("options_key")

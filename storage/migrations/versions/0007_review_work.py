"""review work: a skip label with its reason, and per-dataset review guidelines

Revision ID: 0007_review_work
Revises: 0006_instant_judge
Create Date: 2026-12-02 23:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_review_work"
down_revision = "0006_instant_judge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot alter a column's type in place (the table is copied).
    with op.batch_alter_table("reviews") as batch:
        batch.alter_column("label", existing_type=sa.String(length=3), type_=sa.String(length=8))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=False, server_default=""))
    op.add_column("datasets", sa.Column("guidelines", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("datasets", "guidelines")
    # A skip does not fit the old column: it goes back to "no label" (its history keeps it).
    op.execute("UPDATE reviews SET label = NULL WHERE label = 'skip'")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("reason")
        batch.alter_column("label", existing_type=sa.String(length=8), type_=sa.String(length=3))

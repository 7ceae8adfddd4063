"""model_versions.head_path: a judge head (a logistic layer on hidden states) on top of a model

Revision ID: 0005_version_head
Revises: 0004_job_claims
Create Date: 2026-12-02 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_version_head"
down_revision = "0004_job_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("head_path", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("head_path")

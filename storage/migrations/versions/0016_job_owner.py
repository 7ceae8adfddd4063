"""jobs.owner: the login that started a job (a reviewer may cancel their own jobs, an admin any)

Revision ID: 0016_job_owner
Revises: 0015_inconsistent_verdicts
Create Date: 2026-12-07 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_job_owner"
down_revision = "0015_inconsistent_verdicts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Jobs from before have no owner: only an admin may cancel them from the studio.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("owner")

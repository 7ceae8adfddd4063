"""jobs.runner and jobs.work_key: one runner per job, one unfinished job per piece of work

Revision ID: 0004_job_claims
Revises: 0003_judgment_options_key
Create Date: 2026-12-02 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_job_claims"
down_revision = "0003_judgment_options_key"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("runner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("work_key", sa.String(length=64), nullable=True))
    # Jobs from before have no key: they are never matched by one, so they cannot collide.
    op.create_index(
        "ix_jobs_active_work_key", "jobs", ["work_key"], unique=True, sqlite_where=ACTIVE, postgresql_where=ACTIVE
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_active_work_key", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("work_key")
        batch.drop_column("runner")

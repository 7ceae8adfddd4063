"""index review_events.review_id (the pair view reads a review's events by it)

Revision ID: 0002_review_events_index (revision ids stay within alembic_version's 32 characters)
Revises: 0001_initial_schema
Create Date: 2026-12-02 12:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0002_review_events_index"
down_revision = "0001_initial_schema"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_review_events_review_id"), "review_events", ["review_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_review_events_review_id"), table_name="review_events")

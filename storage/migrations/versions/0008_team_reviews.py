"""team reviews: one review per person and pair, a final (adjudicated) one, overlap, holds

Revision ID: 0008_team_reviews
Revises: 0007_review_work
Create Date: 2026-12-03 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_team_reviews"
down_revision = "0007_review_work"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An existing review stays its last editor's: pair_id was unique, so (pair, reviewer) is too.
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.drop_constraint("uq_reviews_pair_id", type_="unique")
    op.create_index("ix_reviews_pair_id", "reviews", ["pair_id"])
    op.create_index(
        "ix_reviews_person",
        "reviews",
        ["pair_id", "reviewer"],
        unique=True,
        sqlite_where=sa.text("NOT final"),
        postgresql_where=sa.text("NOT final"),
    )
    op.create_index(
        "ix_reviews_final",
        "reviews",
        ["pair_id"],
        unique=True,
        sqlite_where=sa.text("final"),
        postgresql_where=sa.text("final"),
    )
    op.add_column("datasets", sa.Column("reviews_per_pair", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "review_holds",
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name="fk_review_holds_pair_id_pairs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pair_id", name="pk_review_holds"),
    )


def downgrade() -> None:
    op.drop_table("review_holds")
    op.drop_column("datasets", "reviews_per_pair")
    # One review per pair again: the final one where a lead set it, else the latest changed.
    op.execute(
        "DELETE FROM reviews WHERE id NOT IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER ("
        "PARTITION BY pair_id ORDER BY final DESC, updated_at DESC, id DESC) AS n FROM reviews) AS ranked "
        "WHERE n = 1)"
    )
    op.execute("DELETE FROM review_events WHERE review_id NOT IN (SELECT id FROM reviews)")
    op.drop_index("ix_reviews_final", table_name="reviews")
    op.drop_index("ix_reviews_person", table_name="reviews")
    op.drop_index("ix_reviews_pair_id", table_name="reviews")
    with op.batch_alter_table("reviews") as batch:
        batch.create_unique_constraint("uq_reviews_pair_id", ["pair_id"])
        batch.drop_column("final")

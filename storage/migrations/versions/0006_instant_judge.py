"""the instant judge: cached head features per pair, its latest scores, and its prediction at each first review

Revision ID: 0006_instant_judge
Revises: 0005_version_head
Create Date: 2026-12-02 19:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_instant_judge"
down_revision = "0005_version_head"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pair_features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("recipe", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name=op.f("fk_pair_features_pair_id_pairs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_pair_features_model_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pair_features")),
        sa.UniqueConstraint(
            "model_version_id", "recipe", "pair_id", name=op.f("uq_pair_features_model_version_id_recipe_pair_id")
        ),
    )
    op.create_table(
        "instant_scores",
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("prob_a", sa.Float(), nullable=False),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("trained_on", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name=op.f("fk_instant_scores_pair_id_pairs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_instant_scores_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pair_id", name=op.f("pk_instant_scores")),
    )
    op.create_index("ix_instant_scores_dataset_margin", "instant_scores", ["dataset_id", "margin"])
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("instant_prob_a", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("instant_prob_a")
    op.drop_index("ix_instant_scores_dataset_margin", table_name="instant_scores")
    op.drop_table("instant_scores")
    op.drop_table("pair_features")

"""initial schema

Revision ID: 0001_initial_schema
Revises: (none)
Create Date: 2026-11-26 14:49:29.210583
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001_initial_schema'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('datasets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_datasets')),
    sa.UniqueConstraint('name', name=op.f('uq_datasets_name'))
    )
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=True),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('log', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_jobs_dataset_id_datasets'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    op.create_table('pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('conversation', sa.JSON(), nullable=True),
    sa.Column('response_a', sa.Text(), nullable=False),
    sa.Column('response_b', sa.Text(), nullable=False),
    sa.Column('reference_label', sa.String(length=3), nullable=True),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('external_id', sa.String(length=300), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_pairs_dataset_id_datasets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pairs')),
    sa.UniqueConstraint('dataset_id', 'content_hash', name=op.f('uq_pairs_dataset_id_content_hash'))
    )
    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.create_index('ix_pairs_dataset_id_id', ['dataset_id', 'id'], unique=False)

    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('base_model', sa.Text(), nullable=False),
    sa.Column('adapter_path', sa.Text(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('training_job_id', sa.Integer(), nullable=True),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['model_versions.id'], name=op.f('fk_model_versions_parent_id_model_versions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['training_job_id'], ['jobs.id'], name=op.f('fk_model_versions_training_job_id_jobs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_versions')),
    sa.UniqueConstraint('name', name=op.f('uq_model_versions_name'))
    )
    op.create_table('judgments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pair_id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('model', sa.Text(), nullable=False),
    sa.Column('backend', sa.String(length=40), nullable=False),
    sa.Column('protocol', sa.String(length=40), nullable=False),
    sa.Column('origin', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=3), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('prob_a', sa.Float(), nullable=True),
    sa.Column('rationale', sa.Text(), nullable=True),
    sa.Column('orders', sa.JSON(), nullable=False),
    sa.Column('consistent', sa.Boolean(), nullable=True),
    sa.Column('votes', sa.JSON(), nullable=True),
    sa.Column('raw_output', sa.Text(), nullable=True),
    sa.Column('parse_error', sa.Text(), nullable=True),
    sa.Column('timings', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_judgments_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_judgments_model_version_id_model_versions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pair_id'], ['pairs.id'], name=op.f('fk_judgments_pair_id_pairs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_judgments'))
    )
    with op.batch_alter_table('judgments', schema=None) as batch_op:
        batch_op.create_index('ix_judgments_pair_id_id', ['pair_id', 'id'], unique=False)

    op.create_table('reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pair_id', sa.Integer(), nullable=False),
    sa.Column('judgment_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=3), nullable=True),
    sa.Column('rationale', sa.Text(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['judgment_id'], ['judgments.id'], name=op.f('fk_reviews_judgment_id_judgments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pair_id'], ['pairs.id'], name=op.f('fk_reviews_pair_id_pairs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews')),
    sa.UniqueConstraint('pair_id', name=op.f('uq_reviews_pair_id'))
    )
    op.create_table('review_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('target_event_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], name=op.f('fk_review_events_review_id_reviews'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_event_id'], ['review_events.id'], name=op.f('fk_review_events_target_event_id_review_events'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_events'))
    )


def downgrade() -> None:
    op.drop_table('review_events')
    op.drop_table('reviews')
    with op.batch_alter_table('judgments', schema=None) as batch_op:
        batch_op.drop_index('ix_judgments_pair_id_id')

    op.drop_table('judgments')
    op.drop_table('model_versions')
    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.drop_index('ix_pairs_dataset_id_id')

    op.drop_table('pairs')
    op.drop_table('jobs')
    op.drop_table('datasets')

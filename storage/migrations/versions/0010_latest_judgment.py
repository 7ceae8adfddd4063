"""each pair names its latest judgment and that judgment's confidence, kept by triggers

The queue lists every pair with its latest judgment and sorts by that judgment's confidence. As a
correlated subquery per pair, sorting meant computing it for every pair of the dataset (0.08 s to
open and 0.5 s for the last page at 100,000 pairs). Stored on the pair and indexed with the
dataset, a sorted page is read off an index in either direction. Triggers on `judgments` keep the
two columns true on every insert, confidence update and delete, whichever code (or person) writes;
existing stores are filled in here. The sort keys put unjudged pairs last both ways:
coalesce(confidence, 2) ascending, coalesce(confidence, -1) descending.

Revision ID: 0010_latest_judgment
Revises: 0009_text_search
Create Date: 2026-12-03 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_latest_judgment"
down_revision = "0009_text_search"
branch_labels = None
depends_on = None

# The pair's latest judgment after one of its judgments went: the newest left, or none.
_AFTER_DELETE = (
    "UPDATE pairs SET latest_judgment_id = (SELECT max(id) FROM judgments WHERE pair_id = OLD.pair_id), "
    "latest_confidence = (SELECT confidence FROM judgments WHERE pair_id = OLD.pair_id ORDER BY id DESC LIMIT 1) "
    "WHERE id = OLD.pair_id AND latest_judgment_id = OLD.id"
)
_AFTER_INSERT = (
    "UPDATE pairs SET latest_judgment_id = NEW.id, latest_confidence = NEW.confidence "
    "WHERE id = NEW.pair_id AND (latest_judgment_id IS NULL OR latest_judgment_id < NEW.id)"
)
_AFTER_UPDATE = "UPDATE pairs SET latest_confidence = NEW.confidence WHERE id = NEW.pair_id AND latest_judgment_id = NEW.id"

SQLITE_TRIGGERS = {
    "judgments_latest_insert": f"AFTER INSERT ON judgments BEGIN {_AFTER_INSERT}; END",
    "judgments_latest_update": f"AFTER UPDATE OF confidence ON judgments BEGIN {_AFTER_UPDATE}; END",
    "judgments_latest_delete": f"AFTER DELETE ON judgments BEGIN {_AFTER_DELETE}; END",
}
POSTGRES_FUNCTION = f"""
CREATE FUNCTION pairs_follow_judgments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN {_AFTER_INSERT};
    ELSIF TG_OP = 'UPDATE' THEN {_AFTER_UPDATE};
    ELSE {_AFTER_DELETE};
    END IF;
    RETURN NULL;
END $$
"""
SORT_INDEXES = {
    "ix_pairs_queue_confidence_up": "coalesce(latest_confidence, 2.0)",
    "ix_pairs_queue_confidence_down": "coalesce(latest_confidence, -1.0)",
}


def upgrade() -> None:
    op.add_column("pairs", sa.Column("latest_judgment_id", sa.Integer(), nullable=True))
    op.add_column("pairs", sa.Column("latest_confidence", sa.Float(), nullable=True))
    op.execute("UPDATE pairs SET latest_judgment_id = (SELECT max(id) FROM judgments WHERE pair_id = pairs.id)")
    op.execute(
        "UPDATE pairs SET latest_confidence = (SELECT confidence FROM judgments WHERE id = pairs.latest_judgment_id) "
        "WHERE latest_judgment_id IS NOT NULL"
    )
    for name, key in SORT_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON pairs (dataset_id, {key}, id)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER judgments_latest AFTER INSERT OR UPDATE OF confidence OR DELETE ON judgments "
            "FOR EACH ROW EXECUTE FUNCTION pairs_follow_judgments()"
        )
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER judgments_latest ON judgments")
        op.execute("DROP FUNCTION pairs_follow_judgments()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    for name in SORT_INDEXES:
        op.execute(f"DROP INDEX {name}")
    with op.batch_alter_table("pairs", recreate="never") as batch:
        batch.drop_column("latest_confidence")
        batch.drop_column("latest_judgment_id")

"""each pair also carries its latest judgment's label and consistency, kept by the same triggers

The queue's "inconsistent" and "disagreeing with the reference" filters read the latest judgment.
Joined per pair, PostgreSQL's count at a million pairs hashed all 800,000 judgments before it
found its first 10,000 matches (162 ms a page). On the pair, they are a scan of one table that
stops at the count's cap, and inconsistent pairs have a partial index. The triggers of 0010 are
rewritten to keep the two new columns with the latest judgment's id and confidence.

Revision ID: 0013_latest_verdict
Revises: 0012_pair_review_counts
Create Date: 2026-12-03 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0013_latest_verdict"
down_revision = "0012_pair_review_counts"
branch_labels = None
depends_on = None

_FIELDS = {  # a pair's column: the latest judgment's
    "latest_confidence": "confidence",
    "latest_label": "label",
    "latest_consistent": "consistent",
}


def _newest_left(field: str) -> str:
    return f"(SELECT {field} FROM judgments WHERE pair_id = OLD.pair_id ORDER BY id DESC LIMIT 1)"


_AFTER_DELETE = (
    "UPDATE pairs SET latest_judgment_id = (SELECT max(id) FROM judgments WHERE pair_id = OLD.pair_id), "
    + ", ".join(f"{column} = {_newest_left(field)}" for column, field in _FIELDS.items())
    + " WHERE id = OLD.pair_id AND latest_judgment_id = OLD.id"
)
_AFTER_INSERT = (
    "UPDATE pairs SET latest_judgment_id = NEW.id, "
    + ", ".join(f"{column} = NEW.{field}" for column, field in _FIELDS.items())
    + " WHERE id = NEW.pair_id AND (latest_judgment_id IS NULL OR latest_judgment_id < NEW.id)"
)
_AFTER_UPDATE = (
    "UPDATE pairs SET "
    + ", ".join(f"{column} = NEW.{field}" for column, field in _FIELDS.items())
    + " WHERE id = NEW.pair_id AND latest_judgment_id = NEW.id"
)
_WATCHED = ", ".join(_FIELDS.values())


def _triggers(after_insert: str, after_update: str, after_delete: str, watched: str) -> tuple[dict[str, str], str]:
    """(SQLite's three triggers, PostgreSQL's function) keeping a pair's latest judgment."""
    sqlite = {
        "judgments_latest_insert": f"AFTER INSERT ON judgments BEGIN {after_insert}; END",
        "judgments_latest_update": f"AFTER UPDATE OF {watched} ON judgments BEGIN {after_update}; END",
        "judgments_latest_delete": f"AFTER DELETE ON judgments BEGIN {after_delete}; END",
    }
    postgres = f"""
CREATE OR REPLACE FUNCTION pairs_follow_judgments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN {after_insert};
    ELSIF TG_OP = 'UPDATE' THEN {after_update};
    ELSE {after_delete};
    END IF;
    RETURN NULL;
END $$
"""
    return sqlite, postgres


def _install(sqlite: dict[str, str], postgres: str, watched: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(postgres)
        op.execute("DROP TRIGGER judgments_latest ON judgments")
        op.execute(
            f"CREATE TRIGGER judgments_latest AFTER INSERT OR UPDATE OF {watched} OR DELETE ON judgments "
            "FOR EACH ROW EXECUTE FUNCTION pairs_follow_judgments()"
        )
    else:
        for name, body in sqlite.items():
            op.execute(f"DROP TRIGGER {name}")
            op.execute(f"CREATE TRIGGER {name} {body}")


def upgrade() -> None:
    op.add_column("pairs", sa.Column("latest_label", sa.String(length=8), nullable=True))
    op.add_column("pairs", sa.Column("latest_consistent", sa.Boolean(), nullable=True))
    op.execute(
        "UPDATE pairs SET latest_label = (SELECT label FROM judgments WHERE id = pairs.latest_judgment_id), "
        "latest_consistent = (SELECT consistent FROM judgments WHERE id = pairs.latest_judgment_id) "
        "WHERE latest_judgment_id IS NOT NULL"
    )
    op.create_index(
        "ix_pairs_inconsistent",
        "pairs",
        ["dataset_id", "id"],
        sqlite_where=sa.text("latest_consistent = false"),
        postgresql_where=sa.text("latest_consistent = false"),
    )
    _install(*_triggers(_AFTER_INSERT, _AFTER_UPDATE, _AFTER_DELETE, _WATCHED), _WATCHED)


def downgrade() -> None:
    before = context.script.get_revision("0010_latest_judgment").module  # its own triggers back
    _install(*_triggers(before._AFTER_INSERT, before._AFTER_UPDATE, before._AFTER_DELETE, "confidence"), "confidence")
    op.drop_index("ix_pairs_inconsistent", "pairs")
    with op.batch_alter_table("pairs", recreate="never") as batch:
        batch.drop_column("latest_consistent")
        batch.drop_column("latest_label")

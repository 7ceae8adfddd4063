"""each dataset counts its pairs, kept by triggers

Every page of the queue shows how many pairs the dataset holds. Counted on each page, that was
most of the 80-120 ms of a plain page at a million pairs on PostgreSQL. Kept on the dataset by
triggers on `pairs`: per statement on PostgreSQL (one update of the dataset for a whole import),
per row on SQLite (its single writer makes that cheap). An increment under the row's lock is
exact however many imports run at once.

Revision ID: 0014_dataset_pair_count
Revises: 0013_latest_verdict
Create Date: 2026-12-03 22:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_dataset_pair_count"
down_revision = "0013_latest_verdict"
branch_labels = None
depends_on = None


def _add(sign: str, rows: str) -> str:
    """Add (or take off) the pairs of transition table `rows` to their datasets' counts."""
    return (
        f"UPDATE datasets SET pair_count = pair_count {sign} moved.n "
        f"FROM (SELECT dataset_id, count(*) AS n FROM {rows} GROUP BY dataset_id) AS moved "
        "WHERE datasets.id = moved.dataset_id"
    )


SQLITE_TRIGGERS = {
    "pairs_count_insert": (
        "AFTER INSERT ON pairs BEGIN UPDATE datasets SET pair_count = pair_count + 1 WHERE id = NEW.dataset_id; END"
    ),
    "pairs_count_delete": (
        "AFTER DELETE ON pairs BEGIN UPDATE datasets SET pair_count = pair_count - 1 WHERE id = OLD.dataset_id; END"
    ),
    "pairs_count_move": (
        "AFTER UPDATE OF dataset_id ON pairs BEGIN "
        "UPDATE datasets SET pair_count = pair_count - 1 WHERE id = OLD.dataset_id; "
        "UPDATE datasets SET pair_count = pair_count + 1 WHERE id = NEW.dataset_id; END"
    ),
}
POSTGRES = [
    f"""CREATE FUNCTION datasets_count_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_add("+", "added")}; RETURN NULL; END $$""",
    f"""CREATE FUNCTION datasets_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {_add("-", "removed")}; RETURN NULL; END $$""",
    """CREATE FUNCTION datasets_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE datasets SET pair_count = pair_count - 1 WHERE id = OLD.dataset_id;
    UPDATE datasets SET pair_count = pair_count + 1 WHERE id = NEW.dataset_id;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER pairs_count_insert AFTER INSERT ON pairs REFERENCING NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION datasets_count_added()",
    "CREATE TRIGGER pairs_count_delete AFTER DELETE ON pairs REFERENCING OLD TABLE AS removed "
    "FOR EACH STATEMENT EXECUTE FUNCTION datasets_count_removed()",
    "CREATE TRIGGER pairs_count_move AFTER UPDATE OF dataset_id ON pairs "
    "FOR EACH ROW WHEN (OLD.dataset_id <> NEW.dataset_id) EXECUTE FUNCTION datasets_count_moved()",
]


def upgrade() -> None:
    op.add_column("datasets", sa.Column("pair_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.execute("UPDATE datasets SET pair_count = (SELECT count(*) FROM pairs WHERE pairs.dataset_id = datasets.id)")
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES:
            op.execute(statement)
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in SQLITE_TRIGGERS:  # the same three names
            op.execute(f"DROP TRIGGER {name} ON pairs")
        for function in ("datasets_count_added", "datasets_count_removed", "datasets_count_moved"):
            op.execute(f"DROP FUNCTION {function}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    with op.batch_alter_table("datasets", recreate="never") as batch:
        batch.drop_column("pair_count")

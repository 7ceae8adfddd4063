"""each pair counts its people's labels and their distinct labels; each review's tags as rows; kept by triggers

The queue's *needs you* (fewer labels than the dataset asks for) and *people disagree* (more than
one distinct label) counted a pair's reviews in a subquery per pair: 0.6-1.3 s at a million pairs
on SQLite, and on PostgreSQL a misestimated plan ran for minutes. Stored on the pair, the two are
read with the row, and disagreements (a few percent of pairs) have a partial index of their own,
as have unjudged pairs.
Triggers on `reviews` recount the pair on every insert, label or pair change and delete, whoever
writes. On PostgreSQL the trigger first locks the pair's row: two people labelling one pair at
once then recount one after the other, the second seeing the first's label (a recount in one
statement would use the snapshot it took before waiting, and lose a label).

The tag filter looked into every pair's reviews' JSON (0.6 s at a million pairs). `review_tags`
holds each review's tags as rows, indexed by tag, kept from `reviews.tags` by triggers too.

Revision ID: 0012_pair_review_counts
Revises: 0011_job_batches
Create Date: 2026-12-03 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_pair_review_counts"
down_revision = "0011_job_batches"
branch_labels = None
depends_on = None

FILTER_INDEXES = {"ix_pairs_unjudged": "latest_judgment_id IS NULL", "ix_pairs_disagreements": "review_labels > 1"}
_PEOPLE = "FROM reviews WHERE pair_id = {pair} AND NOT final AND label IS NOT NULL"


def _recount(pair: str, which: str | None = None) -> str:
    """The statement that recounts the labels of pair `pair` (NEW.pair_id, OLD.pair_id, or pairs.id
    for the pairs `which` selects)."""
    people = _PEOPLE.format(pair=pair)
    return (
        f"UPDATE pairs SET review_count = (SELECT count(*) {people}), "
        f"review_labels = (SELECT count(DISTINCT label) {people}) WHERE {which or f'id = {pair}'}"
    )


SQLITE_TRIGGERS = {
    "reviews_count_insert": f"AFTER INSERT ON reviews BEGIN {_recount('NEW.pair_id')}; END",
    "reviews_count_update": (
        f"AFTER UPDATE OF label, final, pair_id ON reviews BEGIN {_recount('NEW.pair_id')}; {_recount('OLD.pair_id')}; END"
    ),
    "reviews_count_delete": f"AFTER DELETE ON reviews BEGIN {_recount('OLD.pair_id')}; END",
}
POSTGRES_FUNCTION = f"""
CREATE FUNCTION pairs_follow_reviews() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        PERFORM 1 FROM pairs WHERE id = NEW.pair_id FOR NO KEY UPDATE;
        {_recount('NEW.pair_id')};
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM 1 FROM pairs WHERE id = OLD.pair_id FOR NO KEY UPDATE;
        {_recount('OLD.pair_id')};
    END IF;
    RETURN NULL;
END $$
"""

# A review's tags as rows (each once), on SQLite's JSON1 and PostgreSQL's json functions.
# ({source}: "" in a trigger, whose NEW row is at hand; "reviews, " to read the stored reviews.)
_TAGS_OF = {
    "sqlite": "SELECT DISTINCT {review}.id, {review}.pair_id, value FROM {source}json_each({review}.tags)",
    "postgresql": (
        "SELECT DISTINCT {review}.id, {review}.pair_id, value "
        "FROM {source}json_array_elements_text({review}.tags) AS t(value)"
    ),
}
_ADD_TAGS = "INSERT INTO review_tags (review_id, pair_id, tag) {tags}"
SQLITE_TAG_TRIGGERS = {
    "review_tags_insert": "AFTER INSERT ON reviews BEGIN " + _ADD_TAGS.format(tags=_TAGS_OF["sqlite"].format(review="NEW", source="")) + "; END",
    "review_tags_update": (
        "AFTER UPDATE OF tags, pair_id ON reviews BEGIN DELETE FROM review_tags WHERE review_id = OLD.id; "
        + _ADD_TAGS.format(tags=_TAGS_OF["sqlite"].format(review="NEW", source=""))
        + "; END"
    ),
    "review_tags_delete": "AFTER DELETE ON reviews BEGIN DELETE FROM review_tags WHERE review_id = OLD.id; END",
}
POSTGRES_TAG_FUNCTION = f"""
CREATE FUNCTION review_tags_follow_reviews() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM review_tags WHERE review_id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {_ADD_TAGS.format(tags=_TAGS_OF["postgresql"].format(review="NEW", source=""))};
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "review_tags",
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"], ["reviews.id"], name=op.f("fk_review_tags_review_id_reviews"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("review_id", "tag", name=op.f("pk_review_tags")),
    )
    op.create_index("ix_review_tags_tag_pair", "review_tags", ["tag", "pair_id"])
    existing = _TAGS_OF["postgresql" if dialect == "postgresql" else "sqlite"].format(review="reviews", source="reviews, ")
    op.execute(_ADD_TAGS.format(tags=existing))
    op.add_column("pairs", sa.Column("review_count", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("pairs", sa.Column("review_labels", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.execute(_recount("pairs.id", which="id IN (SELECT pair_id FROM reviews)"))
    for name, where in FILTER_INDEXES.items():
        op.create_index(name, "pairs", ["dataset_id", "id"], sqlite_where=sa.text(where), postgresql_where=sa.text(where))
    if dialect == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER reviews_count AFTER INSERT OR UPDATE OF label, final, pair_id OR DELETE ON reviews "
            "FOR EACH ROW EXECUTE FUNCTION pairs_follow_reviews()"
        )
        op.execute(POSTGRES_TAG_FUNCTION)
        op.execute(
            "CREATE TRIGGER review_tags AFTER INSERT OR UPDATE OF tags, pair_id OR DELETE ON reviews "
            "FOR EACH ROW EXECUTE FUNCTION review_tags_follow_reviews()"
        )
    else:
        for name, body in {**SQLITE_TRIGGERS, **SQLITE_TAG_TRIGGERS}.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER review_tags ON reviews")
        op.execute("DROP FUNCTION review_tags_follow_reviews()")
        op.execute("DROP TRIGGER reviews_count ON reviews")
        op.execute("DROP FUNCTION pairs_follow_reviews()")
    else:
        for name in {**SQLITE_TRIGGERS, **SQLITE_TAG_TRIGGERS}:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_review_tags_tag_pair", "review_tags")
    op.drop_table("review_tags")
    for name in FILTER_INDEXES:
        op.drop_index(name, "pairs")
    with op.batch_alter_table("pairs", recreate="never") as batch:
        batch.drop_column("review_labels")
        batch.drop_column("review_count")

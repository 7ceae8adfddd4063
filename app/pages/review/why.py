"""The Review page's "Which words pushed it": a judge head's verdict split over the words of A and
B, exactly (core/head/contributions.py), read on demand with the head's own model."""

from __future__ import annotations

from app.context import StudioContext
from app.pages.review.handlers import require_verdict_shown
from app.render import literal, markdown_html
from core.errors import GramError
from core.head.contributions import HeadExplanation, head_contributions, judgment_head
from core.review.workflow import Cursor

SHOWN = 5  # words per response


def which_words(ctx: StudioContext, cursor: Cursor, judgment_id: int | None, *, user: str) -> str:
    if cursor.pair_id is None or judgment_id is None:
        raise GramError("open a judged pair first")
    require_verdict_shown(ctx, cursor, user, "this")
    with ctx.db.session() as session:
        spec, head, pair = judgment_head(session, judgment_id)
    return explanation_html(head_contributions(ctx.backend(spec), head, pair))


def explanation_html(found: HeadExplanation) -> str:
    """The strongest words of each response, with their share of the log-odds of A."""
    lines = [
        f"**Why P(A) = {found.prob_a:.3f}** (log-odds {found.logit:+.3f}, split exactly: the answer slot "
        f"{found.slot:+.3f}, the words of A and B the rest; + pushes towards A, − towards B)"
    ]
    for response in ("A", "B"):
        words = found.strongest(response, SHOWN)
        shown = " · ".join(f"“{literal(w.text)}” {w.value:+.3f}" for w in words) or "(no words)"
        total = sum(t.value for t in found.tokens if t.response == response)
        lines.append(f"- **Response {response}** (all its words {total:+.3f}): {shown}")
    return markdown_html("\n".join(lines))

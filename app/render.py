"""How the studio shows things: untrusted text made safe, and core's records as Markdown and HTML.

Pairs come from anywhere, so their HTML is shown as text, never run. Markdown still renders
(lists, emphasis, code blocks with highlighting): HTML special characters are escaped outside
code spans and fences, where Markdown itself shows them literally.
"""

from __future__ import annotations

import difflib
import html
import re
from typing import Any

from core.jobs.records import JobView
from core.review.pair_view import JudgmentView, PairDetail
from core.vocab import Origin

_CODE = re.compile(r"(```.*?(?:```|\Z)|`[^`\n]*`)", re.DOTALL)


def safe_markdown(text: str | None) -> str:
    """Markdown source in which every HTML tag of `text` is shown as text."""
    if not text:
        return "*(empty)*"
    parts = _CODE.split(text)
    # Odd parts are code (shown literally by Markdown); the rest is escaped.
    return "".join(part if i % 2 else html.escape(part, quote=False) for i, part in enumerate(parts))


def rationale_diff(model: str | None, edited: str | None) -> str:
    """A unified diff of the model's rationale against the person's, as a Markdown code block."""
    if not model or not edited or model.strip() == edited.strip():
        return ""
    lines = difflib.unified_diff(model.strip().splitlines(), edited.strip().splitlines(), "model", "yours", lineterm="")
    body = "\n".join(lines).replace("```", "ʼʼʼ")
    return f"```diff\n{body}\n```"


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def pair_header(pair: PairDetail) -> str:
    reviewed = f"reviewed **{pair.review_label}** by {pair.reviewer}" if pair.review_label else "not reviewed"
    return (
        f"### Pair {pair.pair_id} · {safe_markdown(pair.source)}\n"
        f"reference label: **{pair.reference_label or '-'}** · {reviewed}"
    )


def verdict_markdown(j: JudgmentView | None, earlier: int = 0) -> str:
    """The model's judgment: label, confidence, both orders, votes, problems, rationale."""
    if j is None:
        return "*Not judged yet.*"
    lines = [
        f"**Model:** {safe_markdown(j.model)} ({j.protocol}) · **label {j.label or '?'}** · confidence "
        f"{_number(j.confidence)} · P(A) {_number(j.prob_a)}"
    ]
    if j.consistent is not None:
        lines.append(
            "**Both orders agree.**" if j.consistent else "**Position-inconsistent:** the two orders disagree."
        )
    for order in j.orders:
        lines.append(f"- order {order.get('order')}: label {order.get('label')}, P(A) {order.get('prob_a', 0):.3f}")
    if j.votes:
        v = j.votes
        shown = f"votes A {v.get('A', 0)} · B {v.get('B', 0)} · invalid {v.get('invalid', 0)} of {v.get('k', '?')}"
        if j.origin == Origin.SELFTRAIN:
            fate = "kept" if v.get("kept") else f"dropped ({v.get('dropped_by')})"
            lines.append(f"**Self-training pseudo-label** (iteration {v.get('iteration')}): {shown}; {fate}")
        else:
            lines.append(shown)
    if j.parse_error:
        lines.append(f"*Note: {safe_markdown(j.parse_error)}*")
    lines.append("\n**Rationale**\n\n" + safe_markdown(j.rationale or "(none)"))
    if earlier:
        lines.append(f"\n*{earlier} earlier judgment(s) of this pair.*")
    return "\n\n".join(lines)


def history_rows(pair: PairDetail) -> list[list[Any]]:
    return [[e.event_id, f"{e.when:%Y-%m-%d %H:%M:%S}", e.reviewer, e.action, e.change] for e in pair.history]


def progress_html(job: JobView | None) -> str:
    """A job's progress bar and latest log lines (escaped: logs may quote user data)."""
    if job is None:
        return "<p>No job yet.</p>"
    total = job.total or 0
    bar = f'<progress value="{job.done}" max="{max(total, 1)}" style="width:100%"></progress>'
    lines = "\n".join(job.log.strip().splitlines()[-4:])
    error = f"<p><b>error:</b> {html.escape(job.error)}</p>" if job.error else ""
    return (
        f'<div class="job" data-status="{html.escape(job.status)}"><b>job {job.id} ({html.escape(job.kind)}): '
        f"{html.escape(job.status)}</b> · {job.done}/{total}{bar}<pre>{html.escape(lines)}</pre>{error}</div>"
    )


def rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value

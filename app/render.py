"""How the studio shows things: untrusted text made safe, and core's records as HTML and Markdown.

Pairs come from anywhere, so their HTML is shown as text, never run. Markdown still renders
(lists, emphasis, tables, code blocks with highlighting) by markdown-it with raw HTML switched
off, on the server; the page gets only the HTML it produced. Links keep markdown-it's check (no
`javascript:`), and a remote image (a tracking pixel) is shown as its address, not fetched,
unless the operator allows it (GRAM_SHOW_REMOTE_IMAGES). Values the studio itself puts into
Markdown (names, errors) go through `literal`.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from core.data.judgments import by_construction
from core.evaluation.calibration import Calibration
from core.evaluation.trust import TrustReport
from core.jobs.batches import WorkerView
from core.jobs.lifecycle import JobView
from core.review.pair_view import JudgmentView, PairDetail
from core.vocab import Label, Origin, Protocol

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def _highlight(code: str, language: str, _attrs: Any) -> str:
    try:
        lexer = get_lexer_by_name(language) if language else None
    except ClassNotFound:
        lexer = None
    return pygments_highlight(code, lexer, HtmlFormatter(nowrap=True)) if lexer else ""  # "": markdown-it escapes


def _image_as_link(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    src = html.escape(token.attrGet("src") or "")
    alt = html.escape(self.renderInlineAsText(token.children or [], options, env))
    return f'<a class="remote-image" href="{src}" rel="noreferrer noopener" target="_blank">[image: {alt or src}]</a>'


def _parser(images: bool) -> MarkdownIt:
    # Hard breaks: a single line break shows as one (poems, addresses, lists typed without blank
    # lines read as written); code and tables keep their own layout.
    parser = MarkdownIt("commonmark", {"html": False, "highlight": _highlight, "breaks": True}).enable("table")
    if not images:
        parser.add_render_rule("image", _image_as_link)
    return parser


_PARSERS = {allowed: _parser(allowed) for allowed in (False, True)}


def markdown_html(text: str | None, *, images: bool = False) -> str:
    """`text` (untrusted Markdown) as safe HTML: raw HTML escaped, remote images only if `images`."""
    if not text:
        return "<p><em>(empty)</em></p>"
    return f'<div class="gram-md">{_PARSERS[images].render(text)}</div>'


TURN_ROLES = {"user": "User", "assistant": "Assistant", "system": "System"}


def conversation_html(messages: list[dict[str, str]], *, images: bool = False) -> str:
    """A conversation as its turns, each with its speaker (a role outside the known three is
    shown as its escaped text), each turn's content as safe Markdown."""
    turns = []
    for message in messages:
        role = str(message.get("role", ""))
        kind = role if role in TURN_ROLES else "other"
        name = TURN_ROLES.get(role) or html.escape(role.title() or "?")
        turns.append(
            f'<div class="turn turn-{kind}"><div class="turn-role">{name}</div>'
            f"{markdown_html(str(message.get('content', '')), images=images)}</div>"
        )
    return f'<div class="conversation">{"".join(turns)}</div>'


def literal(value: object) -> str:
    """A value as Markdown that shows exactly its text (HTML and Markdown characters escaped)."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", html.escape(str(value), quote=False))


# The colours of highlighted code (pygments' classes), for the page's <head>.
CODE_CSS = f"<style>{HtmlFormatter().get_style_defs('.gram-md pre')}</style>"


def rationale_diff(model: str | None, edited: str | None) -> str:
    """A unified diff of the model's rationale against the person's, as a Markdown code block."""
    if not model or not edited or model.strip() == edited.strip():
        return ""
    lines = difflib.unified_diff(model.strip().splitlines(), edited.strip().splitlines(), "model", "yours", lineterm="")
    body = "\n".join(lines).replace("```", "ʼʼʼ")
    return f"```diff\n{body}\n```"


def _number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else ""


def pair_header(pair: PairDetail, *, hide_reference: bool = False) -> str:
    """The pair's heading (HTML): id, source, reference label and colleagues' labels (unless
    hidden: blind review), this person's review."""
    if pair.review_label == Label.SKIP:
        why = f": {literal(pair.review_reason)}" if pair.review_reason else " (no reason given)"
        reviewed = f"**skipped** as not judgeable by {literal(pair.reviewer)}{why}"
    elif pair.review_label:
        reviewed = f"reviewed **{literal(pair.review_label)}** by {literal(pair.reviewer)}"
    else:
        reviewed = "not reviewed by you"
    if not pair.peers:
        peers = ""
    elif hide_reference:
        peers = " · colleagues' reviews: hidden (blind review)"
    else:
        peers = " · " + ", ".join(
            f"final **{literal(p.label or '-')}** (set by {literal(p.reviewer)})"
            if p.final
            else f"{literal(p.reviewer or 'someone')} **{literal(p.label or '-')}**"
            for p in pair.peers
        )
    return markdown_html(
        f"### Pair {pair.pair_id} · {literal(pair.source)}\n\n"
        f"reference label: **{'hidden (blind review)' if hide_reference else literal(pair.reference_label or '-')}** "
        f"· {reviewed}{peers}"
    )


def verdict_html(
    j: JudgmentView | None,
    others: int = 0,
    *,
    images: bool = False,
    problems: Sequence[str] = (),
    calibration: Calibration | None = None,
) -> str:
    """The model's judgment (HTML): label, confidence, both orders, votes, problems, rationale;
    `problems`: what makes its rationale degenerate (core/judge/rationale_checks.py); `calibration`:
    the one in force for its dataset (core/evaluation/calibration.py), said beside the confidence."""
    if j is None:
        return markdown_html("*Not judged yet.*")
    lines = [
        f"**Model:** {literal(j.model)} ({literal(j.protocol)}) · **label {literal(j.label or '?')}** · "
        f"confidence {_number(j.confidence)} · P(A) {_number(j.prob_a)}"
    ]
    if calibration is not None and isinstance(j.prob_a, float):
        shown = (
            f"calibrated confidence **{calibration.confidence(j.prob_a):.3f}**; "
            if calibration.temperature is not None
            else ""
        )
        lines.append(f"{shown}calibration in force: {calibration.in_force}.")
    if j.label == Label.TIE:
        lines.append("**Undecided:** P(A) is within this backend's precision of 0.5, so no winner is named.")
    if by_construction(j.orders):
        lines.append(
            "**Both orders agree by construction:** a judge head gives the swapped pair exactly 1 − P(A), "
            "so this says nothing about position bias."
        )
    elif j.consistent is not None:
        lines.append(
            "**Both orders agree.**" if j.consistent else "**Position-inconsistent:** the two orders disagree."
        )
    for order in j.orders:
        lines.append(
            f"- order {literal(order.get('order'))}: label {literal(order.get('label'))}, "
            f"P(A) {_number(order.get('prob_a'))}"
        )
    if j.votes:
        v = j.votes
        shown = " · ".join(
            f"{name} {literal(v.get(key, 0))}" for name, key in (("votes A", "A"), ("B", "B"), ("invalid", "invalid"))
        )
        shown += f" of {literal(v.get('k', '?'))}"
        if j.origin == Origin.SELFTRAIN:
            fate = "kept" if v.get("kept") else f"dropped ({literal(v.get('dropped_by'))})"
            lines.append(f"**Self-training pseudo-label** (iteration {literal(v.get('iteration'))}): {shown}; {fate}")
        else:
            lines.append(shown)
    if j.parse_error:
        lines.append(f"*Note: {literal(j.parse_error)}*")
    lines.append("**Rationale**")
    if others:
        lines.append(f"*{others} other judgment(s) of this pair: choose one above the pair.*")
    if not j.rationale and j.explained:
        model = literal(j.explanation.get("model") if j.explanation else "the base model")
        lines.append(
            f"**Written to explain the verdict** by {model}, which was told the label {literal(j.label)}: "
            "it argues for this verdict because it was asked to; it is not an independent judgment."
        )
        if problems:
            lines.append(f"**Explanation flagged:** {literal('; '.join(problems))}.")
        return markdown_html("\n\n".join(lines)) + markdown_html(j.explained, images=images)
    if not j.rationale and j.protocol == Protocol.LABEL_ONLY:
        return markdown_html("\n\n".join(lines)) + markdown_html(
            "*None: this verdict comes from the fast path"
            + (" (a judge head)" if by_construction(j.orders) else "")
            + ", which gives a label and a confidence, not reasons. *Explain this verdict* has the base "
            "model write one for its label.*"
        )
    if problems:
        lines.append(
            f"**Rationale flagged:** {literal('; '.join(problems))}. Shown as it is; it is never used as a "
            "training target (SFT export, adaptation)."
        )
    # The rationale is the model's Markdown: rendered, not made literal (its HTML is escaped all the same).
    return markdown_html("\n\n".join(lines)) + markdown_html(j.rationale or "(none)", images=images)


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


def workers_html(workers: Sequence[WorkerView], job_id: int) -> str:
    """The workers of a judging job split for workers: what each finished and holds now."""
    if not workers:
        return (
            f'<p class="workers">No worker has joined job {job_id} yet: start one with '
            f"<code>gram worker {job_id}</code> on any machine that reaches this database.</p>"
        )
    rows = "".join(
        f'<tr data-alive="{str(w.alive).lower()}"><td>{html.escape(w.worker)}</td>'
        f"<td>{_worker_state(w)}</td>"
        f"<td>{w.batches}</td><td>{w.pairs}</td><td>{w.pairs_per_s:.2f}</td>"
        f"<td>{'-' if w.since_beat_s is None else f'{w.since_beat_s:.0f} s ago'}</td></tr>"
        for w in workers
    )
    head = "<tr><th>worker</th><th>now</th><th>batches done</th><th>pairs</th><th>pairs/s</th><th>last beat</th></tr>"
    return f'<table class="workers">{head}{rows}</table>'


def _worker_state(worker: WorkerView) -> str:
    if worker.alive:
        return f"judging batch {worker.current}"
    return "stopped" if worker.current is None else "gone: its batch goes to the next worker"


def rounded(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def trust_markdown(report: TrustReport) -> str:
    """The trust threshold in one paragraph (Markdown): what may stand without a person, and why."""
    return (
        f"**Trust threshold** (agreement with people ≥ {report.target:.0%}, {1 - report.alpha:.0%} sure; "
        # The verdict is numbers and fixed words only: nothing in it to escape.
        f"from {report.n_reviewed} reviewed pairs, none the judge trained on): {report.verdict}. "
        "It holds for pairs like the reviewed ones: a random sample, not pairs sorted by the judge's confidence."
    )

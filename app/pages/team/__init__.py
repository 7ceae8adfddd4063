"""The Team tab: how many reviews each pair needs, how well the reviewers agree (with each other,
the consensus and the model), the pairs they disagree on, and a lead's final label for those.

The figures come from core/review/agreement.py; the final label (core/review/consensus.py) is
what training and exports use.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from app.context import StudioContext
from app.handlers import bound, on
from app.render import literal, markdown_html
from app.widgets import dataset_dropdown
from core.access.roles import Action
from core.data.datasets import get_dataset, set_reviews_per_pair
from core.errors import GramError
from core.review.adjudication import adjudicate
from core.review.agreement import TeamAgreement, team_agreement
from core.review.pair_view import pair_reviews, pair_texts
from core.stats.intervals import MIN_VERDICT_PAIRS
from core.vocab import REVIEW_LABELS

PEOPLE_COLUMNS = ["reviewer", "labelled", "with the others", "with the model"]
DISAGREEMENT_COLUMNS = ["pair", "labels", "final"]


def agreement_text(name: str, team: TeamAgreement) -> str:
    """The dataset's agreement figures, named (a page's earlier dataset can still be on its way)."""
    if not team.reviewers:
        return f"*Nobody has reviewed **{literal(name)}** yet.*"
    lines = [f"**{literal(name)}** · **Reviewers:** {', '.join(literal(r) for r in team.reviewers)}"]
    for a, b, kappa in team.kappas:
        lines.append(f"**Cohen's kappa, {literal(a)} and {literal(b)}:** {kappa.shown()}")
    if len(team.reviewers) > 1:
        lines.append(f"**Krippendorff's alpha, everyone:** {team.alpha.shown()}")
    lines.append(
        f"*Pairs two or more people labelled A, B or tie count (skips are left out); under {MIN_VERDICT_PAIRS} pairs "
        "a figure is too uncertain to tell. The interval is a 95% bootstrap over pairs.*"
    )
    return "  \n".join(lines)


HIDDEN_LABELS = "(each person's label: an admin's view)"


def agreement_tables(team: TeamAgreement, *, labels_shown: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-person figures and the disagreements; without `labels_shown` (a reviewer's view) the
    disagreements name their pairs but not who chose what."""
    people = pd.DataFrame(
        [[p.reviewer, p.labelled, p.with_others.shown(), p.with_model.shown()] for p in team.people],
        columns=PEOPLE_COLUMNS,
    )
    disputed = pd.DataFrame(
        [
            [
                d.pair_id,
                ", ".join(f"{who}: {label}" for who, label in sorted(d.labels.items()))
                if labels_shown
                else HIDDEN_LABELS,
                (d.final or "") if labels_shown else "",
            ]
            for d in team.disagreements
        ],
        columns=DISAGREEMENT_COLUMNS,
    )
    return people, disputed


def adjudication_view(ctx: StudioContext, name: str, chosen: float | None, user: str) -> list[Any]:
    """Every person's label and rationale of the pair (an admin's view), the final label and its
    rationale, and the final review's version (what the lead's save names)."""
    if not name or chosen is None:
        return ["", None, "", 0]
    ctx.team.require(user, Action.ADJUDICATE)
    with ctx.db.session() as session:
        found, version = pair_reviews(session, name, int(chosen))
        texts = pair_texts(session, int(chosen))
    final = next((r for r in found if r.final), None)
    # The pair itself beside the labels: a lead decides on the texts, not on the votes alone.
    shown_pair = "".join(
        f"<h4>{heading}</h4>{markdown_html(body)}"
        for heading, body in zip(("Prompt", "Response A", "Response B"), texts, strict=True)
    )
    blocks = [
        f"**{'final, set by ' if r.final else ''}{literal(r.reviewer or 'someone')}: {literal(r.label)}**"
        + (f" ({literal(r.reason)})" if r.reason else "")
        + "\n\n"
        + (r.rationale or "*(no rationale)*")
        for r in found
    ]
    text = "\n\n---\n\n".join(blocks) if blocks else "*Nobody has labelled this pair.*"
    labels = shown_pair + "<h4>Labels</h4>" + markdown_html(text)
    return [labels, final.label if final else None, (final.rationale or "") if final else "", version]


def agreement(ctx: StudioContext, name: str, *, user: str) -> list[Any]:
    """[reviews each pair needs, the figures, each person, the disagreements] of the dataset."""
    if not name:
        return [1, "", pd.DataFrame(), pd.DataFrame()]
    with ctx.db.session() as session:
        team = team_agreement(session, name)
        overlap = get_dataset(session, name).reviews_per_pair
    labels_shown = ctx.team.may(user, Action.SEE_TEAM_LABELS)
    return [overlap, agreement_text(name, team), *agreement_tables(team, labels_shown=labels_shown)]


def save_overlap(ctx: StudioContext, name: str, value: float | None, *, user: str) -> str:
    ctx.team.require(user, Action.SET_OVERLAP)
    if not name or value is None:
        raise GramError("choose a dataset and a number of reviews")
    with ctx.db.session() as session:
        set_reviews_per_pair(session, name, int(value))
    return f"Each pair of **{literal(name)}** now needs {int(value)} review(s); the queues' *needs you* follow."


def pick(ctx: StudioContext, name: str, table: pd.DataFrame, event: gr.SelectData, *, user: str) -> list[Any]:
    """[pair, *adjudication view] of the disagreement selected."""
    row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
    chosen = int(table.iloc[row, 0])
    return [chosen, *adjudication_view(ctx, name, chosen, user)]


def settle(
    ctx: StudioContext, name: str, chosen: float | None, label: str | None, text: str, version: int, *, user: str
) -> list[Any]:
    """[message, *adjudication view, *agreement figures] after the lead sets the final label."""
    pair = None if chosen is None else int(chosen)
    with ctx.db.session() as session:
        adjudicate(session, ctx.team, name, pair, user, label, text, version=version)
    message = f"Pair {pair}: final label **{literal(label or '')}**, set by {literal(user)}."
    return [message, *adjudication_view(ctx, name, chosen, user), *agreement(ctx, name, user=user)[1:]]


def build(ctx: StudioContext, studio: gr.Blocks) -> None:
    with gr.Row():
        dataset = dataset_dropdown(ctx, studio, "team_datasets", label="Dataset", elem_id="team-dataset")
        needed = gr.Number(
            label="Reviews each pair needs", precision=0, minimum=1, value=1, elem_id="team-overlap", scale=0
        )
        save_needed = gr.Button("Save", elem_id="team-overlap-save", scale=0)
        refresh = gr.Button("Show agreement", elem_id="team-refresh", variant="primary", scale=0)
    note = gr.Markdown(elem_id="team-note")
    figures = gr.Markdown(elem_id="team-agreement")
    people = gr.Dataframe(headers=PEOPLE_COLUMNS, interactive=False, label="Each person", elem_id="team-people")
    disputed = gr.Dataframe(
        headers=DISAGREEMENT_COLUMNS,
        interactive=False,
        label="Disagreements (select one to settle it)",
        elem_id="team-disagreements",
    )
    gr.Markdown("### Settle a pair\nThe final label is what training and exports use for the pair.")
    with gr.Row():
        pair_id = gr.Number(label="Pair", precision=0, elem_id="adjudicate-pair", scale=0)
        final_label = gr.Radio(list(REVIEW_LABELS), label="Final label", elem_id="adjudicate-label")
        save_final = gr.Button("Set the final label", elem_id="adjudicate-save", scale=0)
    reviews = gr.HTML(elem_id="adjudicate-reviews")
    rationale = gr.Textbox(label="Rationale for the final label (optional)", lines=3, elem_id="adjudicate-rationale")
    final_version = gr.State(0)  # of the pair's final review when the lead opened it

    outputs = [needed, figures, people, disputed]
    on(dataset.change, bound(ctx, agreement), [dataset], outputs, api_name="team_agreement")
    on(refresh.click, bound(ctx, agreement), [dataset], outputs, api_name="team_refresh")
    on(save_needed.click, bound(ctx, save_overlap), [dataset, needed], [note], api_name="team_overlap")
    adjudication = [reviews, final_label, rationale, final_version]
    on(pair_id.submit, bound(ctx, adjudication_view), [dataset, pair_id], adjudication, api_name="adjudicate_open")
    picked = [pair_id, *adjudication]
    on(disputed.select, bound(ctx, pick), [dataset, disputed], picked, api_name="adjudicate_pick")
    on(
        save_final.click,
        bound(ctx, settle),
        [dataset, pair_id, final_label, rationale, final_version],
        [note, *adjudication, figures, people, disputed],
        api_name="adjudicate",
    )

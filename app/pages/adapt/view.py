"""What the Adapt page shows of a job: the before/after table and its lines, the loss curve's
points, the self-training iterations, and the held-out pairs with their warning."""

from __future__ import annotations

from typing import Any

import pandas as pd

from app.render import literal, rounded
from core.evaluation.comparison import BeforeAfter
from core.jobs.lifecycle import JobView
from core.stats.intervals import MIN_VERDICT_PAIRS, pairs_for_half_width
from core.vocab import JobStatus

SELFTRAIN_COLUMNS = [
    "iteration",
    "labelled",
    "kept",
    "dropped",
    "pseudo-label accuracy",
    "held-out accuracy",
    "version",
]


def pair_list(ids: list[int], shown: int = 40) -> str:
    """Pair ids as a short list ('pairs 3, 7, … and 12 more')."""
    if not ids:
        return ""
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return "pairs " + ", ".join(str(i) for i in sorted(ids)[:shown]) + more


def few_held_out(n: int) -> str:
    """A warning when the held-out side is too small for before/after to mean anything."""
    if n >= MIN_VERDICT_PAIRS:
        return ""
    need = pairs_for_half_width()
    return (
        f"\n\n⚠ {n} held-out pairs are too few to tell whether adaptation helped: no verdict under "
        f"{MIN_VERDICT_PAIRS}, and a ±10-point 95% interval needs about {need}. Review more pairs or raise "
        "the held-out share."
    )


def _with_interval(figures: dict[str, Any]) -> str | None:
    value, ci = figures.get("accuracy"), figures.get("accuracy_ci")
    if value is None or not figures.get("n"):
        return None
    return f"{value:.3f} ({ci[0]:.2f}–{ci[1]:.2f})" if ci else f"{value:.3f}"


def _consistency(figures: dict[str, Any]) -> Any:
    """Measured, or "by construction" for a judge head (its two orders cannot disagree)."""
    value = figures.get("position_consistency")
    if value is None and figures.get("consistent_by_construction"):
        return "by construction (a head)"
    return rounded(value)


def adapt_result(job: JobView | None, active_id: int | None = None) -> tuple[pd.DataFrame, str]:
    if job is None or job.status != JobStatus.SUCCEEDED or "after" not in job.result:
        return pd.DataFrame(), ""
    r = job.result
    before, after = r["before"]["figures"], r["after"]["figures"]
    rows = [{"figure": "accuracy (95% CI)", "before": _with_interval(before), "after": _with_interval(after)}]
    rows.append({"figure": "position consistency", "before": _consistency(before), "after": _consistency(after)})
    rows += [
        {"figure": name, "before": rounded(before.get(name)), "after": rounded(after.get(name))}
        for name in ("ece", "n")
    ]
    table = pd.DataFrame(rows)
    if not after.get("n"):
        table = pd.DataFrame([{"figure": "held-out pairs", "before": 0, "after": 0}])
    verdict = ""
    if "comparison" in r:
        c = BeforeAfter(**r["comparison"])
        verdict = f"**Verdict:** {literal(c.verdict)} · fixed {c.fixed}, broken {c.broken} "
        verdict += f"(McNemar p = {c.p_value:.3g}). "
    left_out = f", {r['left_out_pairs']} left out (an ancestor trained on them)" if r.get("left_out_pairs") else ""
    held = pair_list([int(i) for i, _label in (r.get("split") or {}).get("held_out", [])])
    lists = (
        f"{verdict}New version **{literal(r['version'])}** "
        f"({'active' if r.get('version_id') == active_id else 'inactive'}). Fixed: {r['fixed'] or 'none'} · "
        f"broken: {r['broken'] or 'none'} · trained on {r['train_pairs']} pairs, held out {r['held_out_pairs']}"
        f"{left_out}{' (' + held + ')' if held else ''}.{few_held_out(int(r['held_out_pairs']))}"
    )
    return table, lists


def loss_points(job: JobView | None) -> tuple[tuple[float, float], ...]:
    """The job's training loss by step: the whole curve once trained, else the live one."""
    if job is None:
        return ()
    trained = job.result.get("training") or {}
    return tuple((p[0], p[1]) for p in trained.get("losses") or job.result.get("curve") or [])


def selftrain_result(job: JobView | None) -> pd.DataFrame:
    rows = []
    for number, it in enumerate((job.result if job else {}).get("iterations", []), start=1):
        rows.append(
            {
                "iteration": number,
                "labelled": it["labelled"],
                "kept": it["kept"],
                "dropped": ", ".join(f"{k} {v}" for k, v in it["dropped"].items()) or "none",
                "pseudo-label accuracy": it["pseudo_label_accuracy_all"]["accuracy"],
                "held-out accuracy": it["held_out"]["accuracy"] if it["held_out"]["n"] else None,
                "version": it["version"],
            }
        )
    return pd.DataFrame(rows, columns=SELFTRAIN_COLUMNS)

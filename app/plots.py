"""Plots the studio shows, drawn by matplotlib as SVG (text kept as text, so the page can be read
and searched), through its object API: no pyplot, no global figure state between requests."""

from __future__ import annotations

import functools
import io

from matplotlib import rc_context
from matplotlib.figure import Figure

from core.evaluation.metrics import Evaluation


def _svg(fig: Figure) -> str:
    fig.tight_layout()
    out = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "gram"}):  # text as <text>; stable ids
        fig.savefig(out, format="svg")
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


@functools.lru_cache(maxsize=16)  # the Adapt page redraws every second; the curve changes per step
def loss_svg(points: tuple[tuple[float, float], ...]) -> str:
    """Training loss by optimizer step (empty before the first logged step)."""
    if not points:
        return ""
    steps, losses = [p[0] for p in points], [p[1] for p in points]
    fig = Figure(figsize=(5.2, 3.0), dpi=100)
    ax = fig.add_subplot()
    ax.plot(steps, losses, marker="o", markersize=3, gid="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{len(points)} steps logged · last loss {losses[-1]:.3f} at step {steps[-1]}", fontsize=10)
    return _svg(fig)


def reliability_svg(figures: Evaluation) -> str:
    """The reliability diagram: accuracy per confidence bin on axes from 0 to 1, the diagonal of
    perfect calibration, and each bin's number of pairs."""
    fig = Figure(figsize=(5.2, 4.2), dpi=100)
    ax = fig.add_subplot()
    filled = [b for b in figures.reliability if b.count]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration", gid="diagonal")
    ax.bar(
        [b.low for b in filled],
        [b.accuracy for b in filled],
        width=[b.high - b.low for b in filled],
        align="edge",
        alpha=0.6,
        edgecolor="black",
        label="accuracy in the bin",
        gid="bins",
    )
    ax.plot([b.confidence for b in filled], [b.accuracy for b in filled], "o", color="black", label="mean confidence")
    for b in filled:
        ax.text((b.low + b.high) / 2, min(b.accuracy + 0.02, 0.95), f"n={b.count}", ha="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ticks = [i / 5 for i in range(6)]
    ax.set_xticks(ticks, [f"{t:.1f}" for t in ticks])
    ax.set_yticks(ticks, [f"{t:.1f}" for t in ticks])
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    calibrated = sum(b.count for b in filled)
    ax.set_title(f"{calibrated} pairs with a confidence · ECE {figures.ece:.3f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return _svg(fig)

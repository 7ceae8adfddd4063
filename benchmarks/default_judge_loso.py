"""Calibrate the default judge so that on a source it never saw its confidence falls towards 1/2.

The default judge (benchmarks/default_judge.py) is a judge head fitted on the PandaLM and LLMBar
pairs the project may ship. Cross-validation *within* those sources chose its penalty, so its
confidence fits them and says nothing of a new source. Here the penalty and a calibration map (a
temperature T dividing the head's logit) are chosen by leave-one-source-out cross-fitting over
the shippable sources:

    sources: PandaLM, LLMBar Natural, LLMBar Adversarial (BIG-bench HHH only ever measures)
    for each (penalty, T): fit on the training side of all sources but one, predict every pair of
    the one left out; the choice minimises the log loss of those out-of-source predictions.

The figures per left-out source are nested, so none is measured with a choice it helped make: for
source s, the penalty and T are chosen by leave-one-source-out over the *other* sources, the head
is fitted on their training side, and s is measured whole. BIG-bench HHH is measured with the
head that would ship. Ship rule (issue 25, item 1): on every left-out source of 100 pairs or more,
ECE ≤ 0.05 and accuracy not significantly below the untrained model's (McNemar, p < 0.05).

    .venv/bin/python benchmarks/default_judge_loso.py --cache /tmp/default-judge.pt \\
        --out benchmarks/default-judge-loso-<date>.json [--write]

The cache is default_judge.py's (the same pairs' features); --write ships the calibrated head,
its figures and its training keys into core/head/shipped_head/ when the rule holds.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import default_judge as dj  # noqa: E402  (the pairs, their sides and the comparison, defined once)

SHIPPABLE = ("pandalm", "llmbar-natural", "llmbar-adversarial")
OUT_OF_DISTRIBUTION = "bigbench_hhh"
TEMPERATURES = tuple(round(0.5 * 1.25**i, 3) for i in range(22))  # 0.5 ... about 54
ECE_TARGET = 0.05
MIN_PAIRS = 100


def group_of(row: dict[str, Any]) -> str:
    if row["set"] == "llmbar":
        return "llmbar-natural" if row["source"].endswith("Natural") else "llmbar-adversarial"
    return str(row["set"])


def log_loss(logits: list[float], labels: list[str], temperature: float) -> float:
    total = 0.0
    for z, y in zip(logits, labels, strict=True):
        z = z / temperature
        total += math.log1p(math.exp(-z)) if y == "A" else math.log1p(math.exp(z))
    return total / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, required=True, help="default_judge.py's features of the pairs")
    parser.add_argument("--max-chars", type=int, default=4000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write", action="store_true", help="ship the calibrated head when the rule holds")
    parser.add_argument(
        "--record", action="store_true", help="keep the verdict in the shipped head's figures (what the studio reads)"
    )
    args = parser.parse_args()

    import torch

    from core.data.demo import demo_rows
    from core.data.identity import content_key
    from core.head.classifier import HEAD_POOLS, L2_GRID, fit_head, head_layers
    from core.head.default_judge import FIGURES, SHIPPED, TRAIN_KEYS
    from core.train.split import is_held_out

    def key_of(row: dict[str, Any]) -> str:
        return content_key(row["prompt"], row["response_a"], row["response_b"])

    demo = {key_of(r) for r in demo_rows()}
    rows = [r | {"set": name} for name in dj.TRAIN_SOURCES + dj.EVAL_ONLY for r in dj.load(name, args.max_chars)]
    for r in rows:
        key = key_of(r)
        r["in_demo"] = key in demo
        r["group"] = group_of(r)
        r["side"] = (
            "eval-only"
            if r["set"] in dj.EVAL_ONLY
            else "held-out"
            if r["in_demo"] or is_held_out(key, dj.HELD_OUT_SHARE)
            else "train"
        )
    cached = torch.load(args.cache)
    assert cached["pairs"] == len(rows), "the cache holds other pairs: run default_judge.py --cache first"
    features, untrained, _ = cached["values"]
    layers = head_layers(30)  # SmolLM2-135M's decoder layers (the cache was read from it)
    labels = [r["label"] for r in rows]

    def members(group: str, side: str | None = None) -> list[int]:
        return [i for i, r in enumerate(rows) if r["group"] == group and (side is None or r["side"] == side)]

    def fit(groups: tuple[str, ...], l2: float) -> Any:
        train = [i for g in groups for i in members(g, "train")]
        return fit_head(features[train], [labels[i] for i in train], layers, HEAD_POOLS, l2=l2)

    def logits_of(head: Any, picked: list[int]) -> list[float]:
        p = head.prob_a(features[picked]).clamp(1e-7, 1 - 1e-7)
        return torch.log(p / (1 - p)).tolist()

    def choose(groups: tuple[str, ...]) -> tuple[float, float, float]:
        """(penalty, temperature, out-of-source log loss) by leave-one-source-out over `groups`."""
        best = (math.inf, 0.0, 0.0)
        for l2 in L2_GRID:
            out_logits: list[float] = []
            out_labels: list[str] = []
            for left in groups:
                rest = tuple(g for g in groups if g != left)
                if not any(members(g, "train") for g in rest):
                    continue  # LLMBar Natural is all demo pairs: never trained on, only predicted
                head = fit(rest, l2)
                picked = members(left)
                out_logits += logits_of(head, picked)
                out_labels += [labels[i] for i in picked]
            for t in TEMPERATURES:
                loss = log_loss(out_logits, out_labels, t)
                if loss < best[0]:
                    best = (loss, l2, t)
        return best[1], best[2], best[0]

    def measured(head: Any, picked: list[int]) -> dict[str, Any]:
        probs = head.prob_a(features[picked]).tolist()
        return dj.compared([untrained[i] for i in picked], probs, [labels[i] for i in picked])

    report: dict[str, Any] = {"sources": {}, "temperatures": TEMPERATURES, "penalties": L2_GRID}
    # Nested: each shippable source measured with a choice made without it.
    for left in SHIPPABLE:
        others = tuple(g for g in SHIPPABLE if g != left)
        l2, t, loss = choose(others)
        head = fit(others, l2).tempered(t)
        plain = fit(others, l2)  # the same head uncalibrated, for the contrast
        picked = members(left)
        report["sources"][left] = {
            "n": len(picked),
            "chosen_without_it": {"l2": l2, "temperature": t, "out_of_source_log_loss": loss},
            "calibrated": measured(head, picked),
            "uncalibrated": measured(plain, picked),
        }
    # The head that would ship: chosen by leave-one-source-out over all three, fitted on their training side.
    l2, t, loss = choose(SHIPPABLE)
    shipped = fit(SHIPPABLE, l2).tempered(t)
    uncalibrated = fit(SHIPPABLE, l2)
    report["shipped_choice"] = {"l2": l2, "temperature": t, "out_of_source_log_loss": loss}
    hhh = members(OUT_OF_DISTRIBUTION)
    report["sources"][OUT_OF_DISTRIBUTION] = {
        "n": len(hhh),
        "calibrated": measured(shipped, hhh),
        "uncalibrated": measured(uncalibrated, hhh),
    }
    held = [i for i, r in enumerate(rows) if r["side"] == "held-out"]
    report["held_out_in_distribution"] = {"n": len(held), "calibrated": measured(shipped, held)}
    report["held_out_demo"] = {
        "n": sum(rows[i]["in_demo"] for i in held),
        "calibrated": measured(shipped, [i for i in held if rows[i]["in_demo"]]),
    }

    def holds(figures: dict[str, Any]) -> bool:
        paired = figures["paired"]
        worse = paired["p_value"] < 0.05 and paired["broken"] > paired["fixed"]
        return figures["default_judge"]["ece"] <= ECE_TARGET and not worse

    checked = {name: holds(r["calibrated"]) for name, r in report["sources"].items() if r["n"] >= MIN_PAIRS}
    report["rule"] = {"ece_at_most": ECE_TARGET, "not_significantly_worse": True, "per_source": checked}
    report["ship"] = all(checked.values())
    for name, r in report["sources"].items():
        c, u = r["calibrated"], r["uncalibrated"]
        print(
            f"{name:20} n={r['n']:4}  untrained {c['untrained']['accuracy']:.3f}  "
            f"judge {c['default_judge']['accuracy']:.3f} "
            f"ECE {u['default_judge']['ece']:.3f} -> {c['default_judge']['ece']:.3f}  "
            f"McNemar p={c['paired']['p_value']:.2g} (fixed {c['paired']['fixed']}, broken {c['paired']['broken']})"
            f"  rule {'holds' if checked.get(name) else 'fails' if name in checked else '-'}"
        )
    print(f"shipped choice: l2={l2} T={t}; ship: {report['ship']}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    if args.record and not (args.write and report["ship"]):
        # The head already shipped stays; its figures say what leave-one-source-out found.
        figures = json.loads((SHIPPED / FIGURES).read_text())
        figures["loso"] = {"ship": report["ship"], "rule": report["rule"], "sources": summary(report)}
        (SHIPPED / FIGURES).write_text(json.dumps(figures, indent=1))
        readme_path = SHIPPED / "README.md"
        kept = readme_path.read_text().split("\n## Off its training sources")[0].rstrip("\n")
        readme_path.write_text(kept + "\n\n## Off its training sources\n\n" + loso_table(report))
        print(f"recorded in {SHIPPED / FIGURES}")
    if args.write and report["ship"]:
        train = [i for g in SHIPPABLE for i in members(g, "train")]
        held_figures = measured(shipped, held)
        metrics = {
            "before": held_figures["untrained"],
            "after": held_figures["default_judge"],
            "comparison": held_figures["paired"],
            "train_pairs": len(train),
            "held_out_pairs": len(held),
            "calibration": {"method": "leave-one-source-out temperature", "l2": l2, "temperature": t},
            "left_out_sources": {
                name: {
                    "n": r["n"],
                    "accuracy": r["calibrated"]["default_judge"]["accuracy"],
                    "accuracy_ci": r["calibrated"]["default_judge"]["accuracy_ci"],
                    "ece": r["calibrated"]["default_judge"]["ece"],
                    "untrained_accuracy": r["calibrated"]["untrained"]["accuracy"],
                    "p_value": r["calibrated"]["paired"]["p_value"],
                }
                for name, r in report["sources"].items()
            },
        }
        probs = shipped.prob_a(features).tolist()
        probes = list({key_of(rows[i]): probs[i] for i in held if rows[i]["in_demo"]}.items())[: dj.PROBES]
        shutil.rmtree(SHIPPED, ignore_errors=True)
        shipped.save(SHIPPED)
        figures = {"metrics": metrics, "sources": list(dj.TRAIN_SOURCES), "probes": probes}
        (SHIPPED / FIGURES).write_text(json.dumps(figures, indent=1))
        (SHIPPED / TRAIN_KEYS).write_text(json.dumps(sorted({key_of(rows[i]) for i in train})))
        (SHIPPED / "README.md").write_text(readme(report, len(train), len(held)))
        print(f"wrote {SHIPPED}")


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """Per left-out source: n, the untrained model's and the judge's accuracy (95% CI), ECE, McNemar p."""
    return {
        name: {
            "n": r["n"],
            "untrained_accuracy": r["calibrated"]["untrained"]["accuracy"],
            "accuracy": r["calibrated"]["default_judge"]["accuracy"],
            "accuracy_ci": r["calibrated"]["default_judge"]["accuracy_ci"],
            "ece_uncalibrated": r["uncalibrated"]["default_judge"]["ece"],
            "ece": r["calibrated"]["default_judge"]["ece"],
            "p_value": r["calibrated"]["paired"]["p_value"],
            "fixed": r["calibrated"]["paired"]["fixed"],
            "broken": r["calibrated"]["paired"]["broken"],
        }
        for name, r in report["sources"].items()
    }


def loso_table(report: dict[str, Any]) -> str:
    lines = [
        "`benchmarks/default_judge_loso.py`: each source left out of every choice and fit that measured it",
        "(nested leave-one-source-out; HHH by the head chosen on all three). The rule: ECE ≤ 0.05 and not",
        f"significantly below the untrained model on every left-out source of 100+ pairs. Holds: {report['ship']}.",
        "",
        "| left-out source | n | untrained | judge (95% CI) | ECE uncalibrated → calibrated "
        "| fixed / broken | McNemar p |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in summary(report).items():
        ci = r["accuracy_ci"]
        lines.append(
            f"| {name} | {r['n']} | {r['untrained_accuracy']:.3f} | {r['accuracy']:.3f} ({ci[0]:.2f}-{ci[1]:.2f}) | "
            f"{r['ece_uncalibrated']:.3f} → {r['ece']:.3f} | {r['fixed']} / {r['broken']} | {r['p_value']:.2g} |"
        )
    return "\n".join(lines) + "\n"


def readme(report: dict[str, Any], trained: int, held: int) -> str:
    """The shipped folder's README: what the head is, how it was calibrated, what it scores where."""
    choice = report["shipped_choice"]
    lines = [
        "# The default judge",
        "",
        "A judge head (core/head/classifier.py) on SmolLM2-135M-Instruct, written by",
        "`benchmarks/default_judge_loso.py`. Trained on human-labelled pairs of PandaLM",
        "(WeOpenML/PandaLM, Apache-2.0) and LLMBar (princeton-nlp/LLMBar, MIT), ties left out;",
        "the head's weights are derived from them. BIG-bench HHH (Apache-2.0) only measured it.",
        "",
        f"Pairs: {trained} trained on, {held} held out (every demo pair and a quarter of the rest by content hash).",
        f"Penalty {choice['l2']} and temperature {choice['temperature']} (its logit divided by it) chosen by",
        "leave-one-source-out cross-fitting over PandaLM, LLMBar Natural and LLMBar Adversarial.",
        "",
        "Each source below was left out of every choice and fit that measured it (nested); HHH by the shipped head.",
        "",
        "| left-out source | n | untrained | default judge (95% CI) | ECE (uncalibrated → calibrated) | McNemar p |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["sources"].items():
        c, u = r["calibrated"], r["uncalibrated"]
        ci = c["default_judge"]["accuracy_ci"]
        lines.append(
            f"| {name} | {r['n']} | {c['untrained']['accuracy']:.3f} | {c['default_judge']['accuracy']:.3f} "
            f"({ci[0]:.2f}-{ci[1]:.2f}) | {u['default_judge']['ece']:.3f} → {c['default_judge']['ece']:.3f} | "
            f"{c['paired']['p_value']:.2g} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

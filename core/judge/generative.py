"""Turn pairs into GRAM-R² judgments: rationale, label, confidence, position consistency, votes.

The generative path: the rationale protocol's prompt, a generated reply, the parsed verdict,
and then one scoring pass at the answer slot (the reply up to '<answer>\\n') that gives the
confidence: P(label) with the softmax over the two tokens A and B. When the reply has no usable
label, the slot is forced after its rationale ('</think>\\n<answer>\\n') and the more likely
letter is taken, with the problem recorded.

The fast path (label-only, no generation) is core/head/fast_path.py.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core.backends.base import Backend, Completion, Sampling
from core.errors import ConfigError
from core.judge.verdict import parse_verdict, swap_letters
from core.text.pair import PairText, presented
from core.text.prompting import LabelSlot, PromptBuilder, label_slot, two_way
from core.vocab import Label, Order, Protocol, label_for, verdict_for


@dataclass(frozen=True)
class JudgeOptions:
    both_orders: bool = False
    votes: int = 1  # voting@k: k sampled replies per order
    temperature: float = 0.75  # used only when votes > 1 (the authors' value)
    max_new_tokens: int = 512
    seed: int = 0
    # Guided: the judge writes the format's headers and the model fills each section; the label
    # is then taken at the answer slot. For models that do not write the format on their own
    # (the untrained embedded model); a trained GRAM-R² model does not need it.
    guided: bool = False
    # Generate at least this many tokens per reply: benchmarks use it to time a rationale of
    # GRAM's length with a model that would stop sooner. Not for judging.
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if self.votes < 1:
            raise ConfigError(f"votes must be at least 1 (got {self.votes})")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be at least 1 (got {self.max_new_tokens})")


@dataclass
class Sample:
    """One reply in one order, in the pair's own terms (label A means the pair's A)."""

    label: str  # parsed, or forced at the slot when `problem` says so
    prob_a: float  # P(pair's A better) at the answer slot
    rationale: str | None
    raw_output: str
    problem: str | None
    forced: bool
    tokens: int


@dataclass
class PairJudgment:
    label: str
    confidence: float
    prob_a: float
    rationale: str | None
    orders: list[dict[str, Any]]
    consistent: bool | None
    votes: dict[str, Any] | None
    raw_output: str
    parse_error: str | None
    timings: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The fields of a storage Judgment (every field of this record is one)."""
        return asdict(self)


def answer_slot(reply: str, has_label: bool) -> str:
    """The reply up to where the label goes: through '<answer>\\n', or forced after the rationale."""
    at = reply.lower().rfind("<answer>")
    if has_label and at >= 0:
        return reply[: at + len("<answer>")] + "\n"
    head = (reply[:at] if at >= 0 else reply).rstrip()
    if "</think>" not in head.lower():
        head += "\n</think>"
    return head + "\n<answer>\n"


# The format's headers, and each section's share of the token budget.
GUIDED_SECTIONS = (("<think>\nFeedback:", 0.5), ("\n\nComparision:", 0.25), ("\n\nConclusion:", 0.25))
SECTION_STOPS = ("\n\n", "</think>", "<answer>", "Comparision:", "Comparison:", "Conclusion:")


def _section_text(text: str) -> str:
    """A generated section, cut at the first stop marker (backends keep the stop string)."""
    cut = min((text.find(stop) for stop in SECTION_STOPS if stop in text), default=len(text))
    return text[:cut].strip()


def guided_generate(backend: Backend, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
    """Fill the GRAM-R² format section by section; each reply ends at the answer slot.

    The first section is sampled `sampling.n` times per prompt; each sample then continues on
    its own, so voting still sees k different rationales.
    """
    replies: list[list[tuple[str, int]]] = [[] for _ in prompts]
    states: list[tuple[int, str, int]] = []  # (prompt index, reply so far, tokens)
    for number, (header, share) in enumerate(GUIDED_SECTIONS):
        budget = max(int(sampling.max_new_tokens * share), 1)
        if number == 0:
            outputs = backend.generate(
                [p + header for p in prompts],
                replace(
                    sampling,
                    max_new_tokens=budget,
                    min_new_tokens=min(sampling.min_new_tokens, budget),
                    stop=SECTION_STOPS,
                ),
            )
            states = [(i, header + " " + _section_text(c.text), c.tokens) for i, out in enumerate(outputs) for c in out]
            continue
        outputs = backend.generate(
            [prompts[i] + reply + header for i, reply, _ in states],
            replace(
                sampling,
                n=1,
                max_new_tokens=budget,
                min_new_tokens=min(sampling.min_new_tokens, budget),
                stop=SECTION_STOPS,
            ),
        )
        states = [
            (i, reply + header + " " + _section_text(out[0].text), used + out[0].tokens)
            for (i, reply, used), out in zip(states, outputs, strict=True)
        ]
    for i, reply, used in states:
        replies[i].append((reply + "\n</think>\n<answer>\n", used))
    return [[Completion(text, used) for text, used in group] for group in replies]


def judge_pairs(
    backend: Backend, pairs: Sequence[PairText], options: JudgeOptions = JudgeOptions()
) -> list[PairJudgment]:
    """Judge `pairs` with the rationale protocol; one PairJudgment per pair, in order."""
    orders: list[Order] = [Order.AB, Order.BA] if options.both_orders else [Order.AB]
    builder = PromptBuilder(backend.tokenizer, backend.max_model_len, reserved=options.max_new_tokens)
    jobs = [(i, order) for i in range(len(pairs)) for order in orders]
    prompts, truncated = [], []
    for i, order in jobs:
        text, cut = builder.build(Protocol.GRAM_R2, *presented(pairs[i], order))
        prompts.append(text)
        truncated.append(cut)
    sampling = Sampling(
        max_new_tokens=options.max_new_tokens,
        temperature=options.temperature if options.votes > 1 else 0.0,
        n=options.votes,
        seed=options.seed,
        min_new_tokens=options.min_new_tokens,
    )
    started = time.perf_counter()
    if options.guided:
        completions = guided_generate(backend, prompts, sampling)
    else:
        completions = backend.generate(prompts, sampling)
    generated = time.perf_counter()

    slots: list[LabelSlot] = []
    verdicts = []
    for prompt, replies in zip(prompts, completions, strict=True):
        for reply in replies:
            verdict = parse_verdict(reply.text)
            verdicts.append((verdict, reply))
            slots.append(label_slot(backend.tokenizer, prompt + answer_slot(reply.text, verdict.ok)))
    logprobs = backend.label_logprobs(slots)
    scored = time.perf_counter()

    samples: dict[tuple[int, Order], list[Sample]] = {}
    k = 0
    for (i, order), replies in zip(jobs, completions, strict=True):
        for _ in replies:
            verdict, reply = verdicts[k]
            p_first = two_way(*logprobs[k])
            k += 1
            if options.guided:  # the model wrote the sections; the slot gives the label
                reply = Completion(reply.text + label_for(p_first) + "\n</answer>", reply.tokens)
                verdict = parse_verdict(reply.text)
            label = verdict.label or label_for(p_first)
            if order == Order.BA:  # back to the pair's own terms
                label, p_first = Label(label).flipped, 1.0 - p_first
            problem = verdict.problem
            if not verdict.ok:
                problem = f"{problem}; label read from the answer slot"
            samples.setdefault((i, order), []).append(
                Sample(label, p_first, verdict.rationale, reply.text, problem, not verdict.ok, reply.tokens)
            )

    per_pair_time = {
        "generate_s": (generated - started) / max(len(pairs), 1),
        "score_s": (scored - generated) / max(len(pairs), 1),
    }
    cut_pairs = {i for (i, _), cut in zip(jobs, truncated, strict=True) if cut}
    return [
        _combine(
            [(order, samples[(i, order)]) for order in orders],
            options,
            truncated=i in cut_pairs,
            timings=per_pair_time,
            undecided_within=backend.undecided_within,
        )
        for i in range(len(pairs))
    ]


def _combine(
    by_order: list[tuple[Order, list[Sample]]],
    options: JudgeOptions,
    *,
    truncated: bool,
    timings: dict[str, float],
    undecided_within: float,
) -> PairJudgment:
    order_results: list[dict[str, Any]] = []
    for order, samples in by_order:
        prob_a = sum(s.prob_a for s in samples) / len(samples)
        counts = Counter(s.label for s in samples if not s.forced)
        if counts:
            label = max(counts, key=lambda lab: (counts[lab], prob_a if lab == "A" else 1 - prob_a))
        else:
            label = verdict_for(prob_a, undecided_within)
        chosen = next((s for s in samples if s.label == label and not s.forced), samples[0])
        order_results.append(
            {
                "order": order,
                "label": label,
                "prob_a": prob_a,
                "confidence": _confidence(label, prob_a),
                "rationale": chosen.rationale,
                "raw_output": chosen.raw_output,
                "problem": chosen.problem,
                "tokens": sum(s.tokens for s in samples),
                "guided": options.guided,
                "forced": not counts,  # no reply in this order had a label: the slot gave it
            }
        )
    prob_a = sum(r["prob_a"] for r in order_results) / len(order_results)
    labels = [r["label"] for r in order_results]
    consistent = labels[0] == labels[1] if len(labels) == 2 else None
    if consistent is False:
        label = verdict_for(prob_a, undecided_within)  # the orders disagree: the averaged probability decides
    else:
        label = labels[0]
    # Each order keeps its rationale as written (in that order's letters); the pair's rationale is
    # restated in the pair's own letters, preferring the as-stored order (no restating needed).
    # Undecided between two orders that disagree, no order gives the label: both rationales count.
    giving = sorted(
        [r for r in order_results if r["label"] == label] or order_results, key=lambda r: r["order"] != Order.AB
    )
    main = giving[0]
    rationale, unclear = None, False
    for result in giving:
        rationale = in_pair_terms(result["rationale"], result["order"])
        if rationale is not None or result["rationale"] is None:
            main = result
            break
        unclear = True
    votes: dict[str, Any] | None = None
    if options.votes > 1:
        all_samples = [s for _, samples in by_order for s in samples]
        tally = Counter("invalid" if s.forced else s.label for s in all_samples)
        votes = {"A": tally["A"], "B": tally["B"], "invalid": tally["invalid"], "k": len(all_samples)}
        votes["share"] = votes.get(label, 0) / len(all_samples)
    problems = [f"{r['order']}: {r['problem']}" for r in order_results if r["problem"]]
    if unclear and rationale is None:
        problems.append(
            "the deciding order's rationale names a response by a bare letter: not restated in the pair's terms"
        )
    if truncated:
        problems.append("input truncated to fit the context")
    return PairJudgment(
        label=label,
        confidence=_confidence(label, prob_a),
        prob_a=prob_a,
        rationale=rationale,
        orders=order_results,
        consistent=consistent,
        votes=votes,
        raw_output=main["raw_output"],
        parse_error="; ".join(problems) or None,
        timings={**timings, "tokens": sum(r["tokens"] for r in order_results)},
    )


def _confidence(label: str, prob_a: float) -> float:
    """P(the label) at the answer slot; for an undecided verdict, the larger side (about 0.5)."""
    if label == Label.TIE:
        return max(prob_a, 1 - prob_a)
    return prob_a if label == Label.A else 1 - prob_a


def in_pair_terms(rationale: str | None, order: str) -> str | None:
    """A rationale written for `order`, in the pair's own letters (None if it cannot be restated)."""
    if rationale is None or order == Order.AB:
        return rationale
    return swap_letters(rationale)


def label_forced(orders: Any, label: str | None) -> bool:
    """Whether a judgment's label was forced at the answer slot: every order that gave it had no
    reply with a label of its own. (Guided judging reads the slot by design: not forced.) Read from
    a stored judgment, whose orders column a damaged record can hold anything in: what is not a
    list of orders counts as not forced, so one such row changes no figure but its own."""
    if not isinstance(orders, list):
        return False
    giving = [o for o in orders if isinstance(o, dict) and o.get("label") == label]
    return bool(giving) and all(o.get("forced", False) for o in giving)

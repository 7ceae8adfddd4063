"""The regression gate: is a candidate version significantly worse than the active one, on
reviewed pairs neither trained on?

The pairs are the dataset's reviewed pairs that fall in the held-out split by content hash
(core/train/split.py: a split that never moves as more pairs are reviewed), less any pair that
either version or an ancestor trained on. Both versions judge them by the fast path (a head reads
the features the store keeps), and McNemar's exact test on the pairs one got right and the other
wrong decides. Under `MIN_VERDICT_PAIRS` pairs it gives no verdict, and so never fails a build.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.data.datasets import get_dataset
from core.errors import GramError
from core.evaluation.comparison import BeforeAfter
from core.model.lineage import trained_keys
from core.model.versions import current_spec, get_version, spec_of, version_for
from core.settings import Settings
from core.train.adaptation import before_and_after, held_out_scores
from core.train.split import LabelledPair, is_held_out, reviewed_pairs
from storage.database import Database


@dataclass(frozen=True)
class GateResult:
    dataset: str
    candidate: str
    baseline: str  # the active version (or the configured model when none is active)
    held_out: int  # reviewed pairs in the held-out split
    left_out: int  # of which either version trained on: not measured
    comparison: BeforeAfter  # "before": the baseline, "after": the candidate

    @property
    def worse(self) -> bool:
        return self.comparison.worse

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "worse": self.worse}

    def lines(self) -> list[str]:
        left = f", {self.left_out} left out (a version trained on them)" if self.left_out else ""
        return [
            f"{self.candidate} against the active {self.baseline} on {self.dataset}'s held-out reviewed pairs: "
            f"{self.held_out}{left}",
            *self.comparison.lines(),
            "FAIL: significantly worse" if self.worse else "pass: not significantly worse",
        ]


def gate_pairs(
    db: Database, dataset: str, version_ids: list[int], holdout_fraction: float
) -> tuple[list[LabelledPair], int, int]:
    """The held-out reviewed pairs no version of `version_ids` (nor an ancestor) trained on; and
    how many were held out, how many left out."""
    with db.session() as session:
        held = [
            p for p in reviewed_pairs(session, get_dataset(session, dataset).id) if is_held_out(p.key, holdout_fraction)
        ]
        trained = set().union(*(trained_keys(session, v) for v in version_ids))
    measured = [p for p in held if p.key not in trained]
    return measured, len(held), len(held) - len(measured)


def regression_gate(
    db: Database,
    settings: Settings,
    dataset: str,
    candidate: str,
    *,
    holdout_fraction: float = 0.25,
    batch_size: int = 8,
) -> GateResult:
    """`candidate` (a version's name or id) against the active version on the dataset's held-out split."""
    if not 0 < holdout_fraction < 1:
        raise GramError(f"the held-out fraction must be in (0, 1): {holdout_fraction}")
    with db.session() as session:
        found = get_version(session, candidate)
        candidate_spec, candidate_id, candidate_name = spec_of(found), found.id, found.name
        baseline_spec = current_spec(session, settings)
        baseline = version_for(session, baseline_spec)
        baseline_id, baseline_name = baseline.id, baseline.name
    if baseline_id == candidate_id:
        raise GramError(f"{candidate_name} is the active version: there is nothing to compare it with")
    pairs, held, left_out = gate_pairs(db, dataset, [candidate_id, baseline_id], holdout_fraction)
    before = held_out_scores(db, baseline_spec, pairs, batch_size)
    after = held_out_scores(db, candidate_spec, pairs, batch_size)
    _, _, comparison = before_and_after(before, after)
    return GateResult(dataset, candidate_name, baseline_name, held, left_out, comparison)

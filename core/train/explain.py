"""Explain a verdict: the generative model writes a rationale for the label a head or the fast
path gave, with GRAM-R²'s proving prompt (core/train/proving.py: told the label, asked why).

What it writes is kept on the judgment as its `explanation` and always shown as "written to explain
the verdict": it argues for the verdict shown because it was asked to, and it is not an
independent judgment. Of k samples the kept one passes the proving rule checks and has no
degenerate-rationale problem (core/judge/rationale_checks.py) where one does; else the best by the
proof score, with its problems said. The embedded 135M model writes poor rationales: the problems
say so where they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from core.backends import Backend, load_backend
from core.errors import GramError, NotFoundError
from core.judge.rationale_checks import rationale_problems
from core.model.spec import ModelSpec, guided_by_default
from core.settings import Settings
from core.text.pair import PairText
from core.train.proving import prove, rule_check
from core.vocab import DECISIVE, BackendName
from storage.database import Database
from storage.tables import Judgment, ModelVersion


@dataclass(frozen=True)
class Explanation:
    judgment_id: int
    rationale: str
    model: str
    problems: list[str]


def writer_spec(db: Database, judgment_id: int, fallback: ModelSpec) -> ModelSpec:
    """The model that writes for a judgment: its version's base model and adapter, never its head."""
    with db.session() as session:
        judgment = session.get(Judgment, judgment_id)
        if judgment is None:
            raise NotFoundError(f"no judgment {judgment_id}")
        version = session.get(ModelVersion, judgment.model_version_id) if judgment.model_version_id else None
        if version is None:
            return ModelSpec(fallback.name, fallback.path, fallback.adapter)
        return ModelSpec(version.name.split("+")[0], version.base_model, version.adapter_path)


def explain_judgment(
    db: Database,
    settings: Settings,
    judgment_id: int,
    fallback: ModelSpec,
    *,
    backend: Backend | None = None,
    k: int = 2,
    max_new_tokens: int = 256,
) -> Explanation:
    """Write and keep an explanation of judgment `judgment_id`'s label."""
    with db.session() as session:
        judgment = session.get(Judgment, judgment_id)
        if judgment is None:
            raise NotFoundError(f"no judgment {judgment_id}")
        if judgment.label not in DECISIVE:
            raise GramError(f"judgment {judgment_id} names no winner: there is no verdict to explain")
        label, pair = str(judgment.label), PairText.of(judgment.pair)
    spec = backend.spec if backend is not None else writer_spec(db, judgment_id, fallback)
    writer = backend or load_backend(BackendName.TRANSFORMERS, spec)
    try:
        proofs = prove(writer, [pair], [label], k=k, max_new_tokens=max_new_tokens, guided=guided_by_default(spec))[0]
    finally:
        if backend is None:
            writer.close()
    if not proofs:
        raise GramError("the model wrote nothing")

    def problems(text: str) -> list[str]:
        tokens = len(writer.tokenizer.encode(text, add_special_tokens=False))
        ruled = rule_check(text, label, tokens=tokens, max_tokens=max_new_tokens)
        return ([ruled] if ruled else []) + rationale_problems(text, pair.response_a, pair.response_b, label)

    checked = [(p, problems(p.rationale)) for p in proofs]  # best first
    chosen, found = next(((p, f) for p, f in checked if not f), checked[0])
    with db.session() as session:
        judgment = session.get(Judgment, judgment_id)
        if judgment is None:
            raise NotFoundError(f"judgment {judgment_id} was deleted meanwhile")
        judgment.explanation = {
            "rationale": chosen.rationale,
            "model": spec.name,
            "created_at": datetime.now(UTC).isoformat(),
            "proof_score": chosen.score if chosen.score > -1e9 else -1e9,
        }
    return Explanation(judgment_id, chosen.rationale, spec.name, found)

"""A head's verdict split over the words of A and B (issue 25, item 4): the shares are exact, they
add up to the head's own logit, and the Review page shows the strongest words of each response."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sqlalchemy.orm import Session

from app.pages.review.why import explanation_html
from core.errors import GramError
from core.head.contributions import HeadExplanation, Span, _shares, judgment_head
from storage.tables import Judgment
from tests import factories


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_each_tokens_share_adds_up_to_the_pooled_term(pool: str) -> None:
    torch.manual_seed(0)
    tokens, weights = torch.randn(7, 16), torch.randn(16)
    pooled = tokens.mean(0) if pool == "mean" else tokens.amax(0)
    shares = _shares(tokens, weights, pool)
    assert shares.shape == (7,) and float(shares.sum()) == pytest.approx(float(pooled @ weights), abs=1e-5)


def test_the_strongest_words_and_their_page() -> None:
    tokens = [Span("A", 0, 5, "Hello", 0.5), Span("A", 5, 8, " wo", 0.25), Span("A", 8, 11, "rld", 0.25)]
    tokens += [Span("B", 0, 3, "Bye", -0.9)]
    found = HeadExplanation(logit=0.2, slot=0.1, tokens=tokens)
    assert found.total == pytest.approx(0.2)
    assert [(w.text, w.value) for w in found.strongest("A")] == [("Hello", 0.5), ("world", 0.5)]  # " wo" + "rld"
    shown = explanation_html(found)
    assert "Response A" in shown and "world" in shown and "-0.900" in shown


def test_only_a_heads_verdict_splits_over_words(session: Session) -> None:
    (pair_id,) = factories.dataset(session, 1)
    judgment = Judgment(pair_id=pair_id, model="m", backend="transformers", label="A", prob_a=0.7)
    session.add(judgment)
    session.flush()
    with pytest.raises(GramError, match="not a judge head"):
        judgment_head(session, judgment.id)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_shares_add_up_to_the_shipped_heads_logit_on_real_pairs(embedded_model_dir: Path) -> None:
    from core.backends.transformers_backend import TransformersBackend
    from core.data.demo import demo_pair_texts
    from core.head.classifier import Head
    from core.head.contributions import head_contributions
    from core.head.default_judge import SHIPPED
    from core.model.spec import ModelSpec

    backend = TransformersBackend(ModelSpec("SmolLM2-135M-Instruct", str(embedded_model_dir)), batch_size=2)
    head = Head.load(SHIPPED)
    for pair in demo_pair_texts(2):
        found = head_contributions(backend, head, pair)
        assert found.total == pytest.approx(found.logit, abs=1e-3)  # exact up to float arithmetic
        assert {t.response for t in found.tokens} == {"A", "B"}
        assert all(
            t.text == (pair.response_a if t.response == "A" else pair.response_b)[t.start : t.end] for t in found.tokens
        )

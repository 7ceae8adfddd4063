"""A pair's text, and how it is shown to a judge in either order."""

from __future__ import annotations

from dataclasses import dataclass

from core.vocab import Order


@dataclass(frozen=True)
class PairText:
    prompt: str
    response_a: str
    response_b: str


def presented(pair: PairText, order: Order) -> tuple[str, str, str]:
    return (
        (pair.prompt, pair.response_a, pair.response_b)
        if order == Order.AB
        else (pair.prompt, pair.response_b, pair.response_a)
    )

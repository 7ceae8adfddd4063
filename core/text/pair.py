"""A pair's text, and how it is shown to a judge in either order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.vocab import Order


class HasTexts(Protocol):
    """Anything that carries a pair's three texts: a stored pair, a parsed record."""

    @property
    def prompt(self) -> str: ...
    @property
    def response_a(self) -> str: ...
    @property
    def response_b(self) -> str: ...


@dataclass(frozen=True)
class PairText:
    """What a judge reads of a pair (the text stage: no id, no label)."""

    prompt: str
    response_a: str
    response_b: str

    @classmethod
    def of(cls, row: HasTexts) -> PairText:
        return cls(row.prompt, row.response_a, row.response_b)


def presented(pair: PairText, order: Order) -> tuple[str, str, str]:
    return (
        (pair.prompt, pair.response_a, pair.response_b)
        if order == Order.AB
        else (pair.prompt, pair.response_b, pair.response_a)
    )

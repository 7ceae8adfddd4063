"""The records that cross module lines when pairs come in or go out of the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.data.identity import pair_hash
from core.vocab import Label

ROLE_NAMES = {"user": "User", "assistant": "Assistant", "system": "System"}


def render_conversation(messages: list[dict[str, str]]) -> str:
    """A multi-turn prompt as one transcript, for search, display and the judge's {user_input}."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n\n".join(f"{ROLE_NAMES.get(m['role'], m['role'].title())}: {m['content']}" for m in messages)


@dataclass
class RowError:
    """Why one input row was rejected: shown to the user as 'file: row N, field F: reason'."""

    file: str
    row: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", field '{self.field}'" if self.field else "")
        return f"{self.file}: {where}: {self.reason}"


class RowRejected(Exception):
    """Raised by a format converter for a row it cannot use; becomes a RowError."""

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass
class PairRecord:
    """One pair as read from a file, before it is stored (or after, on export)."""

    prompt: str
    response_a: str
    response_b: str
    label: Label | None = None
    conversation: list[dict[str, str]] | None = None
    source: str = ""
    external_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Present only when reading a full GRAM Studio dump (`gram export --format jsonl`).
    judgments: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)  # each person's, and the final one

    def content_hash(self) -> str:
        """The store's de-duplication key (core/data/identity.py)."""
        return pair_hash(self.external_id, self.prompt, self.conversation, self.response_a, self.response_b)

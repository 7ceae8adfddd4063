"""A pair's identity, defined once: the hashes that decide what counts as the same pair.

- `pair_hash`: the store's de-duplication key (a dataset holds a pair once). It includes the
  source's row id, because PandaLM, for one, holds separately annotated rows with identical text.
- `content_key`: the same for a pair, its swap and its duplicates under other ids; the frozen
  held-out split of adaptation is drawn on it, so a pair and its copies land on one side.
- `stable_coin`: a repeatable coin flip from content, placing a chosen response at A or B.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _sha256(text: str) -> hashlib._Hash:
    # surrogatepass: a lone surrogate in user text must hash, not crash.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass"))


def pair_hash(
    external_id: str | None, prompt: str, conversation: list[dict[str, Any]] | None, response_a: str, response_b: str
) -> str:
    """The de-duplication key: the source's row id (when it has one) and the content, in order."""
    key = [external_id, prompt, conversation, response_a, response_b]
    return _sha256(json.dumps(key, ensure_ascii=False, separators=(",", ":"))).hexdigest()


def content_key(prompt: str, response_a: str, response_b: str) -> str:
    """The same for a pair and its swap, and for duplicates under other ids."""
    first, second = sorted((response_a, response_b))
    return _sha256("\x1f".join((prompt, first, second))).hexdigest()


def stable_coin(*parts: str) -> bool:
    """A deterministic coin flip from content."""
    return _sha256("\x1f".join(parts)).digest()[0] % 2 == 0

"""What a model version learnt from: the content keys of every pair it or an ancestor trained on.

A figure never counts a pair the model trained on. Each trained version records the content keys
(core/data/identity.py: a pair, its swap and its duplicates share one) of its training pairs; the
shipped default judge records those of the PandaLM and LLMBar pairs it was fitted on. A version
inherits its ancestors' keys: an adapted head of the default judge has seen the default's pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.data.identity import content_key
from storage.tables import ModelVersion, Pair


def trained_keys(session: Session, version_id: int | None) -> set[str]:
    """The content keys of every pair that version `version_id` or one of its ancestors trained on."""
    keys: set[str] = set()
    seen: set[int] = set()
    version = session.get(ModelVersion, version_id) if version_id is not None else None
    while version is not None and version.id not in seen:
        seen.add(version.id)
        config = version.config if isinstance(version.config, dict) else {}
        keys.update(k for k in config.get("train_keys") or [] if isinstance(k, str))
        ids = [i for i in config.get("train_pair_ids") or [] if isinstance(i, int)]
        keys |= _keys_of(session, ids)  # versions made before keys were recorded
        version = session.get(ModelVersion, version.parent_id) if version.parent_id is not None else None
    return keys


def _keys_of(session: Session, ids: Sequence[int]) -> set[str]:
    keys = set()
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Pair.prompt, Pair.response_a, Pair.response_b).where(Pair.id.in_(ids[start : start + 500]))
        )
        keys |= {content_key(*row) for row in rows}
    return keys


class TrainedOn:
    """Whether the version behind a verdict (or one of its ancestors) trained on a pair, by content in
    either order; each version's keys are read once. A verdict of no known version (a model outside
    the store, a deleted version) is never left out: what it trained on is not known."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._keys: dict[int, set[str]] = {}

    def keys(self, version_id: int | None) -> set[str]:
        if version_id is None:
            return set()
        if version_id not in self._keys:
            self._keys[version_id] = trained_keys(self._session, version_id)
        return self._keys[version_id]

    def __call__(self, version_id: int | None, prompt: str, response_a: str, response_b: str) -> bool:
        keys = self.keys(version_id)
        return bool(keys) and content_key(prompt, response_a, response_b) in keys

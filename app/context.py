"""What every studio page shares: the settings, the store, and the judge's loaded model.

One StudioContext per server process (made by launch.py, passed to every page); per-browser
state lives in gr.State on the pages, shared state in the store.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from core.access.roles import Team
from core.backends import Backend, configured_backend
from core.head.features import base_version_id
from core.head.instant import refit_if_due
from core.model.spec import ModelSpec
from core.model.versions import current_spec
from core.settings import Settings
from storage.database import Database


@dataclass
class StudioContext:
    settings: Settings
    db: Database
    _backends: dict[ModelSpec, Backend] = field(default_factory=dict)
    # Instant-judge refits one at a time in the server (each checks afresh whether one is due).
    refitting: threading.Lock = field(default_factory=threading.Lock)
    # Who may do what (core/roles.py): the --admin logins; none named, every login is an admin.
    team: Team = field(default_factory=Team)

    def spec(self) -> ModelSpec:
        """The model in use: the active version, else the settings' model."""
        with self.db.session() as session:
            return current_spec(session, self.settings)

    def refit_instant(self, dataset: str) -> None:
        """Refit the dataset's instant judge on the model in use, if enough new reviews came in."""
        with self.refitting:
            refit_if_due(self.db, dataset, base_version_id(self.db, self.spec()))

    def backend(self, spec: ModelSpec) -> Backend:
        """The backend for `spec`, loaded once (the previous model is freed when it changes)."""
        if spec not in self._backends:
            for old in self._backends.values():
                old.close()
            self._backends.clear()
            self._backends[spec] = configured_backend(self.settings, spec, batch_size=8)
        return self._backends[spec]

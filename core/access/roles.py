"""Who may do what: the studio's actions, each mapped to the role it needs, and the one check.

Two roles. When the studio is started with `--admin` logins, they are admins and every other login
is a reviewer; with none named, every login is an admin (one person's studio, or a trusting team).
The command line is the operator's and acts as an admin. Handlers call `Team.require` before
they change what everyone works with or return other people's work.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import PermissionDenied


class Role(StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"


class Action(StrEnum):
    """An act that not every login may do; the value is how a refusal names it."""

    IMPORT_SERVER_PATH = "import from a path on the server"
    IMPORT_WORK = "import judgments, reviews or their history (a dump speaks for the people in it)"
    RENAME_DATASET = "rename a dataset"
    DELETE_DATASET = "delete a dataset"
    EDIT_GUIDELINES = "edit a dataset's guidelines"
    SET_OVERLAP = "change how many reviews a pair needs"
    ADJUDICATE = "set a pair's final label (and see every person's labels of it)"
    SEE_TEAM_LABELS = "see each person's labels"
    EXPORT_EVERYONE = "export everyone's reviews"
    TRAIN = "train a model"
    ACTIVATE = "activate a model version"
    ROLLBACK = "roll back the model"
    KEEP_INSTANT = "make a model version"
    CANCEL_OTHERS_JOB = "cancel a job someone else started"


# Every action above is an admin's; a reviewer labels, reviews, judges and cancels their own jobs.
NEEDS: dict[Action, Role] = dict.fromkeys(Action, Role.ADMIN)


@dataclass(frozen=True)
class Team:
    """The logins named admins (none: everyone is one)."""

    admins: frozenset[str] = frozenset()

    def role(self, user: str) -> Role:
        return Role.ADMIN if not self.admins or user in self.admins else Role.REVIEWER

    def may(self, user: str, action: Action) -> bool:
        return NEEDS[action] == Role.REVIEWER or self.role(user) == Role.ADMIN

    def require(self, user: str, action: Action) -> None:
        """PermissionDenied unless `user` may do `action`."""
        if not self.may(user, action):
            raise PermissionDenied(f"only an admin may {action}; {user} is signed in as a reviewer")

    def may_cancel(self, user: str, owner: str | None) -> bool:
        """A job is cancelled by whoever started it, or by an admin."""
        return (owner is not None and owner == user) or self.may(user, Action.CANCEL_OTHERS_JOB)


# The operator at the command line.
OPERATOR = "cli"

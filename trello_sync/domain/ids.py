"""Every id the service derives, built here and nowhere else.

Ids are derived, never drawn: planning the same history twice gives the same ids, so the
ledger's unique keys make a second commit of the same decision a no-op.

- An entry's id is its source: the command comment's id, or `<id>@<version>` for an
  edited version of it (Trello keeps a comment's id when it is edited).
- A reversal's id is the reversed entry's id followed by `~rev` (an entry is reversed at
  most once).
- A reply's id is a digest of (board, source, kind); the source of the reply to a
  deleted comment is `<id>@deleted`.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum


class ReplyKind(StrEnum):
    """What a reply answers. Stored by value in the outbox."""

    RECORDED = "recorded"
    CORRECTED = "corrected"  # an edited command, recorded anew
    REFUSED = "refused"
    UNDONE = "undone"
    DELETED = "deleted"  # a command comment deleted in the open months
    UNCOMMANDED = "uncommanded"  # a command edited into plain text
    HANDOFF = "handoff"
    CAP = "cap"  # more active students than the recommended maximum
    PAUSE_REMINDER = "pause_reminder"
    NUDGE = "nudge"


# The replies that only time reveals (planned again on every poll until posted).
REMINDER_KINDS = frozenset({ReplyKind.PAUSE_REMINDER, ReplyKind.NUDGE})


def source_id(action_id: str, version: str | None) -> str:
    """The source of what a comment's version records and of the reply to it."""
    return f"{action_id}@{version}" if version else action_id


def reversal_id(entry_id: str) -> str:
    return f"{entry_id}~rev"


def deletion_source(action_id: str) -> str:
    return f"{action_id}@deleted"


def action_of_source(source: str) -> str:
    """The comment or action a source names (its id without the version)."""
    return source.split("@", 1)[0]


def reply_id_for(board_id: str, source: str, kind: ReplyKind | str) -> str:
    """Derived from (board, source action, kind): planning the same reply twice is a no-op."""
    digest = hashlib.sha256(f"{board_id}|{source}|{kind}".encode()).hexdigest()
    return digest[:16]

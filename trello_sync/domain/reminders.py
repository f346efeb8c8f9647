"""Replies that only time reveals: a long pause, an active student with no session.

Each is posted once per episode: its id is derived from the action that began the
episode (the move into paused; the latest session or move into active), so planning it
again on every poll is harmless, and a new episode gets a new reminder.

A reminder is due at the episode's start (or its latest session) plus the threshold. One
that came due before `due_since` is never planned: a mentor adopting the service with
cards active for months must not see every one of them nudged by the first sync, and a
reminder due long ago, like an old command, gets no reply.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from trello_sync.domain.ids import ReplyKind
from trello_sync.domain.records import BoardView, CardOutline, CardState, Reply
from trello_sync.domain.replies import make_reply, nudge_text, pause_reminder_text
from trello_sync.domain.stages import Stage


def plan_reminders(
    view: BoardView,
    now: datetime,
    *,
    pause_warning_days: int,
    nudge_days: int,
    tz: ZoneInfo,
    due_since: datetime | None,
) -> list[Reply]:
    """The reminders due at `now` that came due at or after `due_since` (None: any)."""

    def due(start: datetime, days: int) -> bool:
        at = start + timedelta(days=days)
        return now > at and (due_since is None or at >= due_since)

    replies: list[Reply] = []
    for card_id, card in sorted(view.students().items()):
        if not card.moves:
            continue
        last = card.moves[-1]
        if last.stage is Stage.PAUSED and due(last.at, pause_warning_days):
            body = pause_reminder_text(card.card.name, (now - last.at).days, _day(last.at, tz))
            replies.append(
                make_reply(
                    view.board_id, card_id, last.source_action_id, ReplyKind.PAUSE_REMINDER, body
                )
            )
        elif last.stage is Stage.ACTIVE:
            since, source = _last_activity(card)
            if due(since, nudge_days):
                body = nudge_text(card.card.name, _day(since, tz), (now - since).days)
                replies.append(make_reply(view.board_id, card_id, source, ReplyKind.NUDGE, body))
    return replies


def _last_activity(card: CardState | CardOutline) -> tuple[datetime, str]:
    """When the current active episode last saw a session (or began). A card in outline
    holds its latest session: reminders read nothing else of its entries."""
    last_move = card.moves[-1]
    latest = (last_move.at, last_move.source_action_id)
    session = card.latest_session
    if session is not None and (session.recorded_at, session.source_action_id) > latest:
        latest = (session.recorded_at, session.source_action_id)
    return latest


def _day(when: datetime, tz: ZoneInfo) -> date:
    return when.astimezone(tz).date()

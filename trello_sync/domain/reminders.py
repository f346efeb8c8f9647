"""Replies that only time reveals: a long pause, an active student with no session.

Each is posted once per episode: its id is derived from the action that began the
episode (the move into paused; the latest session or move into active), so planning it
again on every poll is harmless, and a new episode gets a new reminder.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from trello_sync.domain.records import BoardView, CardState, Reply
from trello_sync.domain.replies import make_reply
from trello_sync.domain.stages import Stage


def plan_reminders(
    view: BoardView,
    now: datetime,
    *,
    pause_warning_days: int,
    nudge_days: int,
    tz: ZoneInfo,
) -> list[Reply]:
    replies: list[Reply] = []
    for card_id, card in sorted(view.cards.items()):
        if not card.moves:
            continue
        last = card.moves[-1]
        if last.stage is Stage.PAUSED and now - last.at > timedelta(days=pause_warning_days):
            days = (now - last.at).days
            body = (
                f"{card.card.name} has been paused for {days} days (since "
                f"{_day(last.at, tz)}). A pause longer than two weeks must be announced "
                "to the platform, so that another mentor can take over for a while."
            )
            replies.append(
                make_reply(view.board_id, card_id, last.source_action_id, "pause_reminder", body)
            )
        elif last.stage is Stage.ACTIVE:
            since, source = _last_activity(card)
            if now - since > timedelta(days=nudge_days):
                body = (
                    f"No session logged for {card.card.name} since {_day(since, tz)} "
                    f"({(now - since).days} days). Log one with /session, or move the card "
                    "to paused if the student is taking a break."
                )
                replies.append(make_reply(view.board_id, card_id, source, "nudge", body))
    return replies


def _last_activity(card: CardState) -> tuple[datetime, str]:
    """When the current active episode last saw a session (or began)."""
    last_move = card.moves[-1]
    latest = (last_move.at, last_move.source_action_id)
    for entry in card.entries:
        if not entry.is_reversal and (entry.recorded_at, entry.source_action_id) > latest:
            latest = (entry.recorded_at, entry.source_action_id)
    return latest


def _day(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).date().isoformat()

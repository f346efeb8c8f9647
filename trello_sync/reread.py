"""Comments read again: an edit or a deletion shows only so, as Trello's feed never
shows `updateComment` nor `deleteComment`.

Two reads, one rule. The hourly re-read (and the one before every export) reads every
comment of the open months; a webhook delivery that says a comment was edited or
deleted has only its card's comments read again. Either way the versions not applied
yet join the cycle's window, and the ids read tell the cycle (domain/cycle.py) which
command comments are gone: the planner then decides the reversals, the corrected
entries and the replies, exactly as it does for the hourly re-read.
"""

from __future__ import annotations

from collections.abc import Iterable

from trello_sync.domain.actions import Action, format_instant, parse_action
from trello_sync.domain.cycle import Cycle
from trello_sync.ledger.store import LedgerStore
from trello_sync.spool import ActionSpool
from trello_sync.trello.port import TrelloNotFound, TrelloPort


def unapplied(ledger: LedgerStore, board_id: str, actions: list[Action]) -> list[Action]:
    """The actions not applied yet at their version."""
    if not actions:
        return []
    # Ids are unique here: the spool and the pager keep one copy of each.
    done = ledger.applied_versions(board_id, {a.id for a in actions})
    return [a for a in actions if (a.id, a.version) not in done]


def reread_open_months(
    trello: TrelloPort, ledger: LedgerStore, board_id: str, state: Cycle, spool: ActionSpool
) -> frozenset[str]:
    """Every comment of the open months, read again. Returns their ids; adds the
    versions not applied yet to the spool."""
    comments = trello.board_actions(
        board_id, since=format_instant(state.open_since), action_filter="commentCard"
    )
    return _take(ledger, board_id, [parse_action(item) for item in comments], spool)


def reread_cards(
    trello: TrelloPort,
    ledger: LedgerStore,
    board_id: str,
    cards: Iterable[str],
    state: Cycle,
    spool: ActionSpool,
) -> frozenset[str]:
    """The open months' comments of these cards alone (one request a card), read again:
    as `reread_open_months`, for the cards a webhook named. A card that is gone is
    skipped: its `deleteCard` comes with the feed, and its sessions took place."""
    parsed: list[Action] = []
    for card_id in sorted(cards):
        try:
            comments = trello.card_comments(card_id)
        except TrelloNotFound:
            continue
        for item in comments:
            action = parse_action(item)
            # What the board's own re-read would show: this board's, in the open months.
            if action.board_id in ("", board_id) and action.date >= state.open_since:
                parsed.append(action)
    return _take(ledger, board_id, parsed, spool)


def _take(
    ledger: LedgerStore, board_id: str, parsed: list[Action], spool: ActionSpool
) -> frozenset[str]:
    fresh = unapplied(ledger, board_id, parsed)
    # The window's own copy wins, unless that copy is applied already and this is a
    # newer version of it (edited between the two reads).
    held = spool.versions(a.id for a in fresh)
    applied = ledger.applied_versions(board_id, set(held))
    spool.add(a for a in fresh if a.id in held and (a.id, held[a.id]) in applied)
    spool.add((a for a in fresh if a.id not in held), replace=False)
    return frozenset(a.id for a in parsed)

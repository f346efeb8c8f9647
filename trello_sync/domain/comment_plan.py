"""One comment, planned: a command becomes an entry (or a refusal, or an undo), an edited
command is reversed and recorded anew, the monthly fees follow, and one reply says it all.

Part of the planner (domain/planner.py): pure, on its working copy of the board.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from trello_sync.domain.actions import Action, object_id_time
from trello_sync.domain.commands import (
    USAGE,
    Command,
    InvalidCommand,
    SessionCommand,
    UndoCommand,
    looks_like_command,
    parse_command,
)
from trello_sync.domain.fees import fee_changes
from trello_sync.domain.ids import ReplyKind, source_id
from trello_sync.domain.planner_state import (
    BoardFacts,
    PlannerConfig,
    WorkingBoard,
    replies_allowed,
)
from trello_sync.domain.records import Entry, PostedReply, StageMove
from trello_sync.domain.replies import (
    NAME_LIMIT,
    MonthTotals,
    echo,
    fee_text,
    find_marker,
    joined,
    make_reply,
    recorded_text,
    refused_text,
    reversed_text,
    uncommanded_text,
    undone_text,
)
from trello_sync.domain.rules import Funding
from trello_sync.domain.stages import Stage
from trello_sync.domain.summary import month_of
from trello_sync.domain.text import fold

# What a comment's reply will say, once the monthly fees it moved are known: its kind,
# and its text given the sentences about those fees ("" when none moved).
_Said = tuple[ReplyKind, Callable[[str], str]]


def apply_comment(
    action: Action, card_id: str, board: WorkingBoard, facts: BoardFacts, config: PlannerConfig
) -> None:
    text = action.text or ""
    reply_id = find_marker(text)
    if reply_id is not None and action.member_id == config.service_member_id:
        # Our own comment: never a command; it proves that reply was posted.
        board.out.posted.append(PostedReply(reply_id, action.id))
        return
    when = action.edited_at or action.date
    first_new = len(board.card_entries(card_id))
    reversed_now: list[tuple[Entry, Entry]] = []  # (reversal, original)
    previous = board.comments.get(action.id)
    if previous is not None and previous.version != action.version:
        # Edited in place (Trello keeps the id): reverse what the old text recorded.
        for original in entries_from(board, card_id, action.id):
            reversal = original.reversed_by(action.id, when)
            board.add_entry(reversal)
            reversed_now.append((reversal, original))
    if looks_like_command(text):
        board.comments[action.id] = board.out.applied[-1]

    today = when.astimezone(config.tz).date()
    command = parse_command(text, today)
    said = _outcome(command, action, card_id, when, today, board, facts, config, reversed_now)
    fees = settle_fees(board, card_id, first_new, action.id, when, config)
    if said is not None and replies_allowed(config, when):
        kind, body = said
        source = source_id(action.id, action.version)
        board.out.replies.append(make_reply(board.board_id, card_id, source, kind, body(fees)))


def settle_fees(
    board: WorkingBoard,
    card_id: str,
    first_new: int,
    cause_action_id: str,
    at: datetime,
    config: PlannerConfig,
) -> str:
    """Record or reverse the card's monthly fees of the months its entries from index
    `first_new` on touched; the sentences that say so ("" when nothing moved)."""
    if not config.rules.has_fees:
        return ""
    touched = {month_of(e.session_date) for e in board.card_entries(card_id)[first_new:]}
    if not touched:
        return ""
    changes = fee_changes(
        board.card_entries(card_id),
        touched,
        config.rules,
        cause_action_id=cause_action_id,
        at=at,
    )
    if not changes:
        return ""
    by_id = {e.entry_id: e for e in board.card_entries(card_id)}
    said: list[str] = []
    for change in changes:
        board.add_entry(change)
        original = by_id.get(change.reverses_entry_id or "")
        said.append(fee_text(change, original))
    return joined(*said)


def entries_from(board: WorkingBoard, card_id: str, action_id: str) -> list[Entry]:
    """The live entries a command comment logged (its monthly fees follow on their own)."""
    return [
        e for e in board.live_entries(card_id) if e.source_action_id == action_id and not e.is_fee
    ]


def _outcome(
    command: Command | None,
    action: Action,
    card_id: str,
    when: datetime,
    today: date,
    board: WorkingBoard,
    facts: BoardFacts,
    config: PlannerConfig,
    reversed_now: Sequence[tuple[Entry, Entry]],
) -> _Said | None:
    """Apply the command (its entry, or its undo) and say what its reply will say."""
    if command is None:
        if not reversed_now:
            return None
        # Edited into plain text: the entry is reversed, and said so, as for a deletion.
        texts = [uncommanded_text(rev, orig) for rev, orig in reversed_now]
        return ReplyKind.UNCOMMANDED, lambda fees: joined(*texts, fees)
    # A refusal or an undo that follows an edit also says what the edit reversed.
    reversed_before = " ".join(reversed_text(rev, orig) for rev, orig in reversed_now)

    def refusal(reason: str, usage: str | None = USAGE) -> _Said:
        return ReplyKind.REFUSED, lambda fees: refused_text(
            reason, usage is not None, joined(reversed_before, fees), usage or USAGE
        )

    if fold(action.member_username) not in config.mentors:
        # Named without the @: a refusal must not notify anyone.
        who = echo(action.member_username, NAME_LIMIT) or "this member"
        return refusal(f"only the mentor can log sessions, and {who} is not one", usage=None)
    if isinstance(command, InvalidCommand):
        return refusal(command.reason, command.usage)
    if isinstance(command, UndoCommand):
        live = [e for e in board.live_entries(card_id) if not e.is_fee]
        if not live:
            return refusal("there is no entry on this card left to undo", usage=None)
        original = max(live, key=lambda e: (e.recorded_at, e.entry_id))
        reversal = original.reversed_by(action.id, when)
        board.add_entry(reversal)
        undone = undone_text(reversal, original)
        return ReplyKind.UNDONE, lambda fees: joined(undone, fees, reversed_before)
    problem = _session_problem(command, card_id, today, board, config)
    if problem:
        return refusal(problem, usage=None)
    source = source_id(action.id, action.version)
    entry = _session_entry(command, action, card_id, source, when, board, facts, config)
    board.add_entry(entry)
    corrected = bool(reversed_now)
    kind = ReplyKind.CORRECTED if corrected else ReplyKind.RECORDED

    def recorded(fees: str) -> str:
        # The month's totals once its fees are in: they are part of what it pays.
        totals = MonthTotals.of(board.card_entries(card_id), entry.session_date, entry.currency)
        return recorded_text(entry, totals, corrected=corrected, fees=fees)

    return kind, recorded


def _session_problem(
    command: SessionCommand,
    card_id: str,
    today: date,
    board: WorkingBoard,
    config: PlannerConfig,
) -> str | None:
    day = command.session_date
    if day > today:
        return f"{day.isoformat()} is in the future"
    created = object_id_time(card_id)
    if created is not None and day < created.astimezone(config.tz).date():
        return f"{day.isoformat()} is before this card existed"
    stages = _stages_on(board.moves.get(card_id, []), day, config.tz)
    if Stage.ACTIVE not in stages:
        was = ", ".join(sorted(s.value.replace("_", " ") for s in stages)) or "not on the board"
        return f"the card was not in the active stage on {day.isoformat()} (it was {was})"
    return None


def _stages_on(moves: Sequence[StageMove], day: date, tz: ZoneInfo) -> set[Stage]:
    """Every stage the card was in at some moment of that local day."""
    start = datetime.combine(day, datetime.min.time(), tz)
    end = start + timedelta(days=1)
    stages: set[Stage] = set()
    current: Stage | None = None
    for move in moves:
        if move.at < start:
            current = move.stage
        elif move.at < end:
            stages.add(move.stage)
    if current is not None:
        stages.add(current)
    return stages


def _session_entry(
    command: SessionCommand,
    action: Action,
    card_id: str,
    source: str,
    when: datetime,
    board: WorkingBoard,
    facts: BoardFacts,
    config: PlannerConfig,
) -> Entry:
    """The entry priced by the rules in force on the session's date, for the card's
    level and funding as the board shows them now (kept in the entry for good)."""
    record = board.cards[card_id]
    known = facts.cards.get(card_id)
    if known is not None:
        student, project, level = known.name, known.project.project, known.project.level
        funding = known.funding
    else:  # the card is gone from the board: the ledger's first sight of it
        student, project, level = record.name, record.project, record.level
        funding = _last_funding(board.card_entries(card_id))
    rule_set = config.rules.in_force(command.session_date)
    if level not in rule_set.rates:
        level = config.default_level
    rate = rule_set.rate(level)
    share = rule_set.share(command.status, funding, command.kind)
    return Entry(
        entry_id=source,
        recorded_at=when,
        board_id=board.board_id,
        card_id=card_id,
        student=student,
        project=project,
        level=level,
        status=command.status,
        session_date=command.session_date,
        duration_minutes=command.duration_minutes,
        note=command.note,
        rate_cents=rate.cents,
        share_percent=share,
        amount_cents=rate.share(share).cents,
        currency=rate.currency,
        mentor=action.member_username,
        source_action_id=action.id,
        funding=funding,
        kind=command.kind,
    )


def _last_funding(entries: Sequence[Entry]) -> Funding:
    """A gone card's funding: the one its latest entry was priced with."""
    priced = [e for e in entries if not e.is_reversal]
    if not priced:
        return Funding.UNSET
    return Funding(max(priced, key=lambda e: (e.recorded_at, e.entry_id)).funding)

"""The one planner: new actions + a view of the ledger → entries, moves, replies, checkpoint.

Pure: plain frozen data in and out, no I/O, no clock reads (`now` is an argument).
Every decision about money is made here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from trello_sync.domain.actions import Action, ActionKind, action_order, object_id_time
from trello_sync.domain.commands import (
    InvalidCommand,
    SessionCommand,
    UndoCommand,
    looks_like_command,
    parse_command,
)
from trello_sync.domain.ids import ReplyKind, deletion_source, reversal_id, source_id
from trello_sync.domain.projects import ProjectLevel
from trello_sync.domain.records import (
    AppliedAction,
    BoardView,
    CardRecord,
    Checkpoint,
    Entry,
    Plan,
    PostedReply,
    Reply,
    StageMove,
)
from trello_sync.domain.replies import (
    NAME_LIMIT,
    MonthTotals,
    cap_warning_text,
    deleted_text,
    echo,
    find_marker,
    handoff_text,
    make_reply,
    recorded_text,
    refused_text,
    reversed_text,
    uncommanded_text,
    undone_text,
)
from trello_sync.domain.rules import PayRules
from trello_sync.domain.stages import Stage, StageMap
from trello_sync.domain.summary import Tally
from trello_sync.domain.text import fold


@dataclass(frozen=True)
class PlannerConfig:
    stage_map: StageMap
    rules: PayRules
    default_level: int
    mentors: frozenset[str]  # folded usernames allowed to log sessions
    tz: ZoneInfo
    cap: int  # the max_students setting; its default is in trello_sync/defaults.toml
    # Actions older than this get no reply (a first sync replays months of history).
    reply_since: datetime | None = None
    # The member the service posts as (the token's owner). A comment carrying a reply's
    # marker proves that reply posted only when this member wrote it: anyone can copy a
    # marker into a comment. None: no comment counts as the service's own.
    service_member_id: str | None = None


@dataclass(frozen=True)
class CardFacts:
    """What the board shows of a card now (from the snapshot)."""

    name: str
    project: ProjectLevel


@dataclass(frozen=True)
class BoardFacts:
    cards: Mapping[str, CardFacts] = field(default_factory=dict)
    list_names: Mapping[str, str] = field(default_factory=dict)  # current name by list id
    # Cards the board still has (open or archived): a missing comment there was deleted.
    present_cards: frozenset[str] = frozenset()


class _Board:
    """The planner's working copy of the board, updated as actions are applied in order."""

    def __init__(self, view: BoardView) -> None:
        self.board_id = view.board_id
        self.cards: dict[str, CardRecord] = {k: c.card for k, c in view.cards.items()}
        # Cards held in outline count for the board (their stage), but no action may be
        # applied to them: they are not in `cards`, and `_apply` refuses them.
        self.outlined = frozenset(view.outlines)
        self.moves: dict[str, list[StageMove]] = {
            k: list(c.moves) for k, c in view.students().items()
        }
        self.entries: dict[str, list[Entry]] = {k: list(c.entries) for k, c in view.cards.items()}
        self.comments: dict[str, AppliedAction] = dict(view.comments)
        self.reversed: set[str] = {
            e.reverses_entry_id
            for entries in self.entries.values()
            for e in entries
            if e.reverses_entry_id
        }
        self.out = _Out()

    def stage(self, card_id: str) -> Stage | None:
        moves = self.moves.get(card_id)
        return moves[-1].stage if moves else None

    def active_count(self) -> int:
        return sum(1 for card_id in self.moves if self.stage(card_id) is Stage.ACTIVE)

    def live_entries(self, card_id: str) -> list[Entry]:
        return [
            e
            for e in self.entries.get(card_id, [])
            if not e.is_reversal and e.entry_id not in self.reversed
        ]

    def add_entry(self, entry: Entry) -> None:
        self.entries.setdefault(entry.card_id, []).append(entry)
        if entry.reverses_entry_id:
            self.reversed.add(entry.reverses_entry_id)
        self.out.entries.append(entry)

    def add_move(self, move: StageMove) -> None:
        self.moves.setdefault(move.card_id, []).append(move)
        self.out.moves.append(move)


@dataclass
class _Out:
    entries: list[Entry] = field(default_factory=list)
    moves: list[StageMove] = field(default_factory=list)
    cards: list[CardRecord] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    applied: list[AppliedAction] = field(default_factory=list)
    posted: list[PostedReply] = field(default_factory=list)


class OutlinedCard(ValueError):
    """An action was to be applied to a card held in outline: a bug of the caller, which
    must load the cards its actions touch whole first."""


def plan(
    actions: Iterable[Action], view: BoardView, facts: BoardFacts, config: PlannerConfig
) -> Plan:
    """Apply `actions` (not yet applied at their version) in (date, id) order. Where the
    checkpoint goes is the cycle's decision (domain/cycle.py), not this one's."""
    board = _Board(view)
    for action in sorted(actions, key=action_order):
        _apply(action, board, facts, config)
    return _finish(board, None)


def plan_deleted_comments(
    current_comment_ids: frozenset[str],
    window_start: datetime,
    view: BoardView,
    facts: BoardFacts,
    config: PlannerConfig,
    now: datetime,
) -> Plan:
    """Reverse the entries of command comments that vanished from a card that still exists.

    `current_comment_ids`: every comment the board shows dated on/after `window_start`.
    A deletion has no time on Trello: the reversal is dated at the newest point of the
    board's history the ledger had seen when it noticed (never before the original), so
    that the same history always gives the same ledger, however late the re-read ran.
    """
    board = _Board(view)
    seen_until = _history_seen_until(view, now)
    for comment in sorted(view.comments.values(), key=lambda c: (c.at, c.action_id)):
        if comment.at < window_start or comment.action_id in current_comment_ids:
            continue
        if comment.card_id is None or comment.card_id not in facts.present_cards:
            continue  # the card was deleted or moved away: its sessions took place
        if comment.card_id in board.outlined:
            raise OutlinedCard(f"card {comment.card_id} is held in outline: load it whole")
        for original in _entries_from(board, comment.card_id, comment.action_id):
            reversal = _reversal(original, comment.action_id, max(seen_until, original.recorded_at))
            board.add_entry(reversal)
            if _replies_allowed(config, now):
                board.out.replies.append(
                    make_reply(
                        board.board_id,
                        comment.card_id,
                        deletion_source(comment.action_id),
                        ReplyKind.DELETED,
                        deleted_text(reversal, original),
                    )
                )
    return _finish(board, None)


def _history_seen_until(view: BoardView, now: datetime) -> datetime:
    """The newest stage move, entry or command the ledger holds for the board.

    Not the checkpoint: it can be one of the service's own replies, dated when it was
    posted, which depends on the run (a lost answer, a retry), not on the history."""
    instants = [comment.at for comment in view.comments.values()]
    for card in view.students().values():
        instants += [move.at for move in card.moves]
        if card.newest_entry is not None:
            instants.append(card.newest_entry.recorded_at)
    if instants:
        return max(instants)
    return view.checkpoint.at if view.checkpoint else now


def _finish(board: _Board, checkpoint: Checkpoint | None) -> Plan:
    out = board.out
    return Plan(
        entries=tuple(out.entries),
        moves=tuple(out.moves),
        cards=tuple(out.cards),
        replies=tuple(out.replies),
        applied=tuple(out.applied),
        posted=tuple(out.posted),
        checkpoint=checkpoint,
    )


# --- one action ---------------------------------------------------------------------


def _apply(action: Action, board: _Board, facts: BoardFacts, config: PlannerConfig) -> None:
    card_id = action.card_id
    is_comment = action.kind is ActionKind.COMMENT
    text = action.text if is_comment and action.text and looks_like_command(action.text) else None
    board.out.applied.append(
        AppliedAction(
            board_id=board.board_id,
            action_id=action.id,
            version=action.version,
            card_id=card_id,
            kind="comment" if is_comment else action.kind.value,
            at=action.date,
            text=text,
        )
    )
    if card_id is None or action.kind is ActionKind.OTHER:
        return
    if card_id in board.outlined:
        raise OutlinedCard(f"card {card_id} is held in outline: load it whole first")
    _ensure_card(card_id, action, board, facts, config)
    if is_comment:
        _apply_comment(action, card_id, board, facts, config)
        return
    stage = _stage_after(action, facts, config)
    if stage is None:
        return
    before = board.stage(card_id)
    active_before = board.active_count()
    board.add_move(
        StageMove(
            board_id=board.board_id,
            card_id=card_id,
            source_action_id=action.id,
            at=action.date,
            stage=stage,
            list_id=action.list_id,
            list_name=_list_name(action, facts),
        )
    )
    if not _replies_allowed(config, action.date):
        return
    if stage is Stage.HANDED_OFF and before is not Stage.HANDED_OFF:
        board.out.replies.append(_handoff_reply(action, card_id, board, config))
    if stage is Stage.ACTIVE and before is not Stage.ACTIVE and active_before == config.cap:
        body = cap_warning_text(active_before + 1, config.cap)
        board.out.replies.append(
            make_reply(board.board_id, card_id, action.id, ReplyKind.CAP, body)
        )


def _list_name(action: Action, facts: BoardFacts) -> str | None:
    if action.list_id and action.list_id in facts.list_names:
        return facts.list_names[action.list_id]
    return action.list_name


def _stage_after(action: Action, facts: BoardFacts, config: PlannerConfig) -> Stage | None:
    if action.kind in (ActionKind.CARD_IN_LIST, ActionKind.UNARCHIVED):
        return config.stage_map.stage_of(_list_name(action, facts))
    return {
        ActionKind.ARCHIVED: Stage.ARCHIVED,
        ActionKind.MOVED_AWAY: Stage.MOVED_AWAY,
        ActionKind.DELETED: Stage.DELETED,
    }.get(action.kind)


def _ensure_card(
    card_id: str, action: Action, board: _Board, facts: BoardFacts, config: PlannerConfig
) -> None:
    if card_id in board.cards:
        return
    known = facts.cards.get(card_id)
    name = action.card_name or (known.name if known else None) or f"card {card_id[-6:]}"
    if known is not None:
        project, level = known.project.project, known.project.level
    else:
        project, level = None, config.default_level
    record = CardRecord(board.board_id, card_id, name, project, level, action.id)
    board.cards[card_id] = record
    board.out.cards.append(record)


# --- comments -------------------------------------------------------------------------


def _apply_comment(
    action: Action, card_id: str, board: _Board, facts: BoardFacts, config: PlannerConfig
) -> None:
    text = action.text or ""
    reply_id = find_marker(text)
    if reply_id is not None and action.member_id == config.service_member_id:
        # Our own comment: never a command; it proves that reply was posted.
        board.out.posted.append(PostedReply(reply_id, action.id))
        return
    when = action.edited_at or action.date
    source = source_id(action.id, action.version)
    reversed_now: list[tuple[Entry, Entry]] = []  # (reversal, original)
    previous = board.comments.get(action.id)
    if previous is not None and previous.version != action.version:
        # Edited in place (Trello keeps the id): reverse what the old text recorded.
        for original in _entries_from(board, card_id, action.id):
            reversal = _reversal(original, action.id, when)
            board.add_entry(reversal)
            reversed_now.append((reversal, original))
    corrected = bool(reversed_now)
    if looks_like_command(text):
        board.comments[action.id] = board.out.applied[-1]

    today = when.astimezone(config.tz).date()
    command = parse_command(text, today)
    replies = _replies_allowed(config, when)
    if command is None:
        # Edited into plain text: the entry is reversed, and said so, as for a deletion.
        if corrected and replies:
            body = " ".join(uncommanded_text(rev, orig) for rev, orig in reversed_now)
            board.out.replies.append(
                make_reply(board.board_id, card_id, source, ReplyKind.UNCOMMANDED, body)
            )
        return
    # A refusal or an undo that follows an edit also says what the edit reversed.
    reversed_before = " ".join(reversed_text(rev, orig) for rev, orig in reversed_now)

    def refuse(reason: str, usage: bool = True) -> None:
        if replies:
            body = refused_text(reason, usage, reversed_before)
            board.out.replies.append(
                make_reply(board.board_id, card_id, source, ReplyKind.REFUSED, body)
            )

    if fold(action.member_username) not in config.mentors:
        # Named without the @: a refusal must not notify anyone.
        who = echo(action.member_username, NAME_LIMIT) or "this member"
        refuse(f"only the mentor can log sessions, and {who} is not one", usage=False)
        return
    if isinstance(command, InvalidCommand):
        refuse(command.reason)
        return
    if isinstance(command, UndoCommand):
        _undo(action, card_id, source, when, board, replies, reversed_before)
        return
    problem = _session_problem(command, card_id, today, board, config)
    if problem:
        refuse(problem, usage=False)
        return
    entry = _session_entry(command, action, card_id, source, when, board, facts, config)
    board.add_entry(entry)
    if replies:
        totals = _month_totals(board, card_id, entry.session_date, entry.currency)
        body = recorded_text(entry, totals, corrected=corrected)
        kind = ReplyKind.CORRECTED if corrected else ReplyKind.RECORDED
        board.out.replies.append(make_reply(board.board_id, card_id, source, kind, body))


def _entries_from(board: _Board, card_id: str, action_id: str) -> list[Entry]:
    return [e for e in board.live_entries(card_id) if e.source_action_id == action_id]


def _reversal(original: Entry, source_action_id: str, when: datetime) -> Entry:
    return replace(
        original,
        entry_id=reversal_id(original.entry_id),
        recorded_at=when,
        amount_cents=-original.amount_cents,
        source_action_id=source_action_id,
        reverses_entry_id=original.entry_id,
    )


def _undo(
    action: Action,
    card_id: str,
    source: str,
    when: datetime,
    board: _Board,
    replies: bool,
    reversed_before: str,
) -> None:
    live = board.live_entries(card_id)
    if not live:
        if replies:
            reason = "there is no entry on this card left to undo"
            body = refused_text(reason, with_usage=False, reversed_before=reversed_before)
            board.out.replies.append(
                make_reply(board.board_id, card_id, source, ReplyKind.REFUSED, body)
            )
        return
    original = max(live, key=lambda e: (e.recorded_at, e.entry_id))
    reversal = _reversal(original, action.id, when)
    board.add_entry(reversal)
    if replies:
        body = " ".join(filter(None, (undone_text(reversal, original), reversed_before)))
        board.out.replies.append(
            make_reply(board.board_id, card_id, source, ReplyKind.UNDONE, body)
        )


def _session_problem(
    command: SessionCommand, card_id: str, today: date, board: _Board, config: PlannerConfig
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
    board: _Board,
    facts: BoardFacts,
    config: PlannerConfig,
) -> Entry:
    record = board.cards[card_id]
    known = facts.cards.get(card_id)
    if known is not None:
        student, project, level = known.name, known.project.project, known.project.level
    else:  # the card is gone from the board: the ledger's first sight of it
        student, project, level = record.name, record.project, record.level
    rule_set = config.rules.in_force(command.session_date)
    if level not in rule_set.rates:
        level = config.default_level
    rate = rule_set.rate(level)
    share = rule_set.share(command.status)
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
    )


def _month_totals(board: _Board, card_id: str, day: date, currency: str) -> MonthTotals:
    # Reversals are netted by the month summary, as in the report and the statements.
    return MonthTotals.of(board.entries.get(card_id, []), day, currency)


def _handoff_reply(action: Action, card_id: str, board: _Board, config: PlannerConfig) -> Reply:
    moves = board.moves.get(card_id, [])
    first_active = next((m.at for m in moves if m.stage is Stage.ACTIVE), None)
    entries = board.entries.get(card_id, [])
    # The whole mentorship, netted as every month's summary is.
    tally = Tally()
    for entry in entries:
        tally.add(entry)
    currency = (
        entries[0].currency
        if entries
        else config.rules.in_force(action.date.astimezone(config.tz).date()).currency
    )
    body = handoff_text(
        board.cards[card_id].name,
        first_active.astimezone(config.tz).date() if first_active else None,
        action.date.astimezone(config.tz).date(),
        tally.sessions,
        tally.amount(currency),
    )
    return make_reply(board.board_id, card_id, action.id, ReplyKind.HANDOFF, body)


def _replies_allowed(config: PlannerConfig, when: datetime) -> bool:
    return config.reply_since is None or when >= config.reply_since

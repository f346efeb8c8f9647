"""Every decision of a board's sync cycle, in one place; the shell (sync.py) only reads,
commits and posts.

A cycle reads the board's new actions (oldest first, in chunks when the history is
long) and the part of the ledger it needs (`BoardView`: every card in outline, the
cards its actions touch whole). For each chunk the functions here say which cards must
be held whole, and then the whole decision: entries, stage moves, reversals of edited
and deleted commands, every reply deduplicated against the outbox, the new checkpoint,
the board's notes (first synced, re-read) and its flag: one `Plan`, committed in one
transaction. The view the next chunk starts from is part of the decision too.

Pure: no I/O, no clock reads (`now` is fixed when the cycle starts).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from trello_sync.domain.actions import Action
from trello_sync.domain.commands import looks_like_command
from trello_sync.domain.planner import BoardFacts, PlannerConfig, plan, plan_deleted_comments
from trello_sync.domain.records import BoardView, Checkpoint, Plan, Reply
from trello_sync.domain.reminders import plan_reminders
from trello_sync.domain.replies import carries_marker
from trello_sync.domain.views import apply_plan, merge_plans, outlined_except

__all__ = [
    "Cycle",
    "CycleRules",
    "Decision",
    "cards_to_hold_whole",
    "decide_chunk",
    "decide_last",
    "is_command",
    "open_months_start",
    "poll_start",
    "start_cycle",
]

# An idle poll moves the checkpoint over already-applied actions (the service's own
# replies, recorded when posted) only past this many: moving it is a write, and an idle
# poll should write nothing.
IDLE_WINDOW_LIMIT = 100


def is_command(action: Action) -> bool:
    """Whether an action is a comment that is a command (its text starts with "/")."""
    return action.text is not None and looks_like_command(action.text)


@dataclass(frozen=True)
class CycleRules:
    """The settings a cycle's decisions depend on."""

    tz: ZoneInfo
    reread_interval_s: int  # how often the open months' comments are read again
    overlap_s: int  # a poll starts this long before the checkpoint
    reply_history_days: int  # an action or reminder older than this gets no reply
    pause_warning_days: int
    nudge_days: int


def open_months_start(now: datetime, tz: ZoneInfo) -> datetime:
    """The start of the open months (the first day of last month, local midnight): an
    edit or a deletion of a command from then on reverses its pay; one before, in a month
    already invoiced, does not."""
    first_of_month = now.astimezone(tz).date().replace(day=1)
    last_month = (first_of_month - timedelta(days=1)).replace(day=1)
    return datetime.combine(last_month, datetime.min.time(), tz)


def poll_start(checkpoint: Checkpoint, overlap_s: int) -> datetime:
    """Where a poll starts: a little before the checkpoint, in case Trello shows an
    action late (its order is not causal); what was applied already is skipped."""
    return checkpoint.at - timedelta(seconds=overlap_s)


def comments_since(checkpoint: Checkpoint | None, now: datetime, rules: CycleRules) -> datetime:
    """The oldest command comment an action of this cycle can be a new version of: the
    poll's own window, or the open months the re-read sees."""
    since = open_months_start(now, rules.tz)
    return since if checkpoint is None else min(since, poll_start(checkpoint, rules.overlap_s))


@dataclass(frozen=True)
class Cycle:
    """What is fixed when a board's cycle starts."""

    now: datetime
    rules: CycleRules
    first: bool  # the board had no checkpoint: its whole history is read
    reread: bool  # the open months' comments are read again this cycle
    flagged: bool  # the board is flagged (it looked wiped): a cycle that plans clears it
    first_synced: datetime | None  # when the ledger first synced the board
    open_since: datetime  # the start of the open months (see open_months_start)
    # Every comment the board shows in the open months (set once they are re-read), or
    # with `cards_reread`, every comment those cards show.
    current_comments: frozenset[str] = frozenset()
    # Cards whose comments were read again on their own, because a webhook said one was
    # edited or deleted: the re-read of the open months, for those cards alone.
    cards_reread: frozenset[str] = frozenset()

    @property
    def rereading(self) -> bool:
        """Comments missing from the re-read were deleted (a first sync read them all:
        nothing to compare with)."""
        return self.reread and not self.first

    @property
    def looks_for_deletions(self) -> bool:
        """Whether this cycle read comments again (all of them, or some cards'): a command
        comment of the open months missing from that read was deleted."""
        return self.rereading or (bool(self.cards_reread) and not self.first)

    @property
    def reply_since(self) -> datetime:
        return self.now - timedelta(days=self.rules.reply_history_days)

    def with_comments(self, current: Iterable[str]) -> Cycle:
        return replace(self, current_comments=frozenset(current))

    def with_cards_reread(self, cards: Iterable[str], current: Iterable[str]) -> Cycle:
        """`current`: every comment the cards show now (in the open months)."""
        return replace(self, cards_reread=frozenset(cards), current_comments=frozenset(current))

    def comments_present(self, view: BoardView) -> frozenset[str]:
        """The open months' comments that count as still on the board: what the re-read
        showed; after a read of some cards, also every comment of the other cards (not
        read, so not missing)."""
        if self.rereading or not self.cards_reread:
            return self.current_comments
        others = {c.action_id for c in view.comments.values() if c.card_id not in self.cards_reread}
        return self.current_comments | others


def start_cycle(
    view: BoardView, now: datetime, rules: CycleRules, *, forced_reread: bool, flagged: bool
) -> Cycle:
    first = view.checkpoint is None
    due = view.last_reread is None or now - view.last_reread >= timedelta(
        seconds=rules.reread_interval_s
    )
    # A first sync counts as synced from its first try: a first sync that commits some
    # chunks and then dies keeps that moment when it is run again.
    first_synced = view.first_synced or (now if first else None)
    reread = first or forced_reread or due
    open_since = open_months_start(now, rules.tz)
    return Cycle(now, rules, first, reread, flagged, first_synced, open_since)


def needs_mentors(actions: Iterable[Action]) -> bool:
    """Whether the chunk's planning needs to know who the mentors are (a command does)."""
    return any(is_command(a) for a in actions)


def needs_service_member(actions: Iterable[Action]) -> bool:
    """Whether it needs to know who the service posts as (a comment carrying a reply's
    marker proves that reply posted only if the service wrote it)."""
    return any(carries_marker(a.text) for a in actions)


def _possibly_deleted(view: BoardView, cycle: Cycle) -> set[str]:
    """The cards of the open months' command comments that the re-read did not see."""
    present = cycle.comments_present(view)
    return {
        c.card_id
        for c in view.comments.values()
        if c.card_id and c.at >= cycle.open_since and c.action_id not in present
    }


def cards_to_hold_whole(
    view: BoardView, actions: Collection[Action], cycle: Cycle, *, last: bool
) -> set[str]:
    """The cards held in outline that this chunk's decision needs whole: those its
    actions touch, and on the last chunk of a re-reading cycle those of the comments
    that may have been deleted."""
    wanted = {a.card_id for a in actions if a.card_id}
    if last and cycle.looks_for_deletions:
        wanted |= _possibly_deleted(view, cycle)
    return wanted & set(view.outlines)


def is_idle(view: BoardView, actions: Collection[Action], cycle: Cycle, *, last: bool) -> bool:
    """Nothing to plan: no new action, and no comment whose deletion is to be looked for.
    An idle chunk needs no board facts (no snapshot is read)."""
    return not actions and not (last and cycle.looks_for_deletions and view.comments)


@dataclass(frozen=True)
class Decision:
    plan: Plan  # everything to commit, in one transaction (may write nothing)
    view: BoardView  # the view the cycle's next chunk starts from
    planned: bool  # actions were planned (not only the checkpoint or reminders)


def _notes(cycle: Cycle) -> Plan:
    """The board's notes every commit of the cycle carries: when a first sync started
    (kept only by the ledger's first commit of it)."""
    return Plan(first_synced=cycle.now if cycle.first else None)


def decide_chunk(
    actions: Collection[Action],
    view: BoardView,
    facts: BoardFacts | None,
    config: PlannerConfig | None,
    cycle: Cycle,
    *,
    end: Checkpoint,
) -> Decision:
    """A chunk before the last of a long window: its actions planned, the checkpoint at
    its newest action (a crash keeps the chunks committed; the next run goes on from
    there). No reminder, no deletion: those are the last chunk's, when all is known."""
    if not actions:
        return Decision(replace(_notes(cycle), checkpoint=end), view, planned=False)
    assert facts is not None and config is not None, "an active chunk needs the board's facts"
    result = replace(plan(actions, view, facts, config), checkpoint=end)
    result = merge_plans(result, _notes(cycle))
    # Later chunks never see these comments again (ids are unique in a window): only
    # the open months' are kept, for the deletion check at the end.
    recent = tuple(a for a in result.applied if a.at >= cycle.open_since)
    after = apply_plan(view, replace(result, applied=recent))
    touched = {a.card_id for a in actions if a.card_id}
    return Decision(result, outlined_except(after, keep=touched), planned=True)


def decide_last(
    actions: Collection[Action],
    view: BoardView,
    facts: BoardFacts | None,
    config: PlannerConfig | None,
    cycle: Cycle,
    *,
    latest: Checkpoint | None,
    window_size: int,
    planned_before: bool,
) -> Decision:
    """The last chunk of the window (the whole window when it is short): its actions,
    the deletions the re-read shows, the reminders now due, the checkpoint at the newest
    action of the whole fetch, and the board's notes and flag."""
    if is_idle(view, actions, cycle, last=True):
        result = Plan(
            replies=_new_reminders(view, cycle),
            checkpoint=_advance_over_applied(view.checkpoint, latest, window_size),
        )
        planned = False
    else:
        assert facts is not None and config is not None, "an active chunk needs the facts"
        result = plan(actions, view, facts, config)
        if latest is not None:
            # Everything up to the newest action of this (complete) fetch has been seen.
            result = replace(result, checkpoint=latest)
        if cycle.looks_for_deletions:
            after = apply_plan(view, result)
            deleted = plan_deleted_comments(
                cycle.comments_present(after),
                cycle.open_since,
                after,
                facts,
                config,
                cycle.now,
            )
            result = merge_plans(result, deleted)
        reminders = _new_reminders(apply_plan(view, result), cycle)
        result = replace(result, replies=result.replies + reminders)
        planned = True
    notes = Plan(
        reread_at=cycle.now if cycle.reread else None,
        clear_flag=cycle.flagged and (planned or planned_before),
    )
    result = merge_plans(result, notes)
    if not result.writes_nothing:  # an empty board's idle poll still writes nothing
        result = merge_plans(result, _notes(cycle))
    return Decision(result, view, planned)


def _advance_over_applied(
    checkpoint: Checkpoint | None, latest: Checkpoint | None, window_size: int
) -> Checkpoint | None:
    """Nothing new, but the fetch returned actions already applied (our own replies, or
    a rewound checkpoint): the checkpoint moves only when the window has grown enough to
    cost something, or when there was none."""
    if latest is None:
        return None
    if checkpoint is None:
        return latest
    newer = (latest.at, latest.action_id) > (checkpoint.at, checkpoint.action_id)
    return latest if newer and window_size >= IDLE_WINDOW_LIMIT else None


def _new_reminders(view: BoardView, cycle: Cycle) -> tuple[Reply, ...]:
    """Time-driven replies not in the outbox yet (so an idle poll still writes nothing):
    only those that came due within reply_history_days, and after the ledger first
    synced the board (a board first synced by an older version has no such moment)."""
    due_since = cycle.reply_since
    if cycle.first_synced is not None:
        due_since = max(due_since, cycle.first_synced)
    due = plan_reminders(
        view,
        cycle.now,
        pause_warning_days=cycle.rules.pause_warning_days,
        nudge_days=cycle.rules.nudge_days,
        tz=cycle.rules.tz,
        due_since=due_since,
    )
    return tuple(reply for reply in due if reply.reply_id not in view.reminders_sent)

"""One sync pass of a board: fetch, plan, commit once, then post the replies.

The impure shell around the pure planner. A board whose cycle fails (Trello gave up,
a malformed answer, a ledger conflict) commits nothing and is reported; the other
boards still sync. Only a bad key or token stops the whole pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from trello_sync.claims import BoardClaims
from trello_sync.clock import Clock
from trello_sync.crash import crash_point
from trello_sync.domain.actions import (
    Action,
    MalformedAction,
    format_instant,
    parse_action,
    parse_instant,
)
from trello_sync.domain.facts import CardEvent, empty_board_problem, facts_from_snapshot
from trello_sync.domain.planner import BoardFacts, PlannerConfig, plan, plan_deleted_comments
from trello_sync.domain.records import BoardView, Checkpoint, Plan, Reply
from trello_sync.domain.reminders import plan_reminders
from trello_sync.domain.replies import carries_marker
from trello_sync.domain.views import apply_plan, merge_plans
from trello_sync.ledger.store import Lease, LeaseLost, LedgerConflict, LedgerStore
from trello_sync.outbox import Outbox, OutboxResult
from trello_sync.settings import Settings
from trello_sync.spool import ActionSpool, SpoolError
from trello_sync.trello.port import (
    Json,
    PageProgress,
    TrelloAuthError,
    TrelloError,
    TrelloNotFound,
    TrelloPort,
)
from trello_sync.window import CycleState, Window

log = logging.getLogger(__name__)

REREAD_META = "last_comment_reread:"
# When the ledger first synced a board: a time-driven reply that came due before it is
# never posted (a first sync must not nudge every card that was idle before it).
FIRST_SYNC_META = "first_synced:"
# An idle poll moves the checkpoint over already-applied actions only past this many.
IDLE_WINDOW_LIMIT = 100
# A window longer than this (a first sync of a long history) is planned and committed in
# chunks of this many actions: about 25 MB of working memory each.
CHUNK_SIZE = 20_000
# Past this many actions, a window moves from memory to a temporary file (see spool.py).
SPOOL_MEMORY = 50_000

# Opens a progress display for a board's first sync; returns the page callback and a
# function that closes the display.
ProgressFactory = Callable[[str], tuple[PageProgress, Callable[[], None]]]


@dataclass
class BoardOutcome:
    ref: str
    board_id: str | None = None
    name: str = ""
    first_sync: bool = False
    fetched: int = 0
    applied: int = 0
    entries: int = 0
    moves: int = 0
    replies_planned: int = 0
    reread: bool = False
    requests: int = 0  # Trello requests this board's cycle used (when the client counts)
    seconds: float = 0.0
    outbox: OutboxResult = field(default_factory=OutboxResult)
    problem: str | None = None  # why this board's cycle recorded nothing
    # The board itself could not be found (a wrong TRELLO_SYNC_BOARDS entry, or a token
    # that cannot see it): a setting to fix, not a failure at run time.
    unknown_board: bool = False


def board_not_found(ref: str) -> str:
    return f"board {ref!r} was not found, or this token cannot see it"


PROBLEM_MAX = 300  # characters of a board's problem shown in one line


def _shortened(text: str) -> str:
    return text if len(text) <= PROBLEM_MAX else text[: PROBLEM_MAX - 1] + "…"


def _is_command(action: Action) -> bool:
    return bool(action.text and action.text.lstrip().startswith("/"))


def _count(outcome: BoardOutcome, result: Plan) -> None:
    outcome.applied += len(result.applied)
    outcome.entries += len(result.entries)
    outcome.moves += len(result.moves)
    outcome.replies_planned += len(result.replies)


class Syncer:
    def __init__(
        self,
        settings: Settings,
        trello: TrelloPort,
        ledger: LedgerStore,
        clock: Clock,
        progress: ProgressFactory | None = None,
        claims: BoardClaims | None = None,
    ) -> None:
        self._settings = settings
        # With claims, only the boards this process holds a lease on are synced, and
        # every write for a board is fenced by its lease (several workers, one ledger).
        self._claims = claims
        self._lease: Lease | None = None
        self._trello = trello
        self._ledger = ledger
        self._clock = clock
        self._progress = progress
        self._mentors: frozenset[str] | None = None
        self._member: Json | None = None
        self._table = settings.project_table()
        self.outbox = Outbox(
            trello, ledger, clock, settings.reply_lease, author=self.service_member_id
        )
        # How a long window is held and planned (small values in tests, to exercise both).
        self.chunk_size = CHUNK_SIZE
        self.spool_memory = SPOOL_MEMORY
        # Off: every cycle reads the whole board_view (the simulator's reference run).
        self.outline_views = True

    def set_progress(self, progress: ProgressFactory | None) -> None:
        self._progress = progress

    # --- the pass -------------------------------------------------------------------
    def sync_all(self, *, force_reread: bool = False, post: bool = True) -> list[BoardOutcome]:
        refs = list(self._settings.boards)
        held = self._claims.claim(refs) if self._claims is not None else None
        if held is not None:
            refs = [ref for ref in refs if ref in held]
        pages = self._prefetch(refs)
        return [
            self.sync_board(
                ref,
                force_reread=force_reread,
                post=post,
                lease=held[ref] if held is not None else None,
                prefetched=pages.get(ref),
            )
            for ref in refs
        ]

    def _prefetch(self, refs: list[str]) -> dict[str, list[Json]]:
        """The idle polls of known boards, ten to a request (/1/batch): on Trello's
        100 requests per 10 s, 1,000 boards fit in a minute only this way. A board whose
        page is full, new, or failed in the batch is polled alone by its own cycle."""
        if len(refs) < 2:
            return {}
        records = {record.ref: record for record in self._ledger.boards()}
        wanted: dict[str, str] = {}  # board id -> ref
        requests: list[tuple[str, str]] = []
        for ref in refs:
            record = records.get(ref)
            if record is not None and record.checkpoint is not None and not record.flag:
                wanted[record.board_id] = ref
                requests.append((record.board_id, self._since(record.checkpoint)))
        if len(requests) < 2:
            return {}
        try:
            pages = self._trello.recent_actions_many(requests)
        except TrelloAuthError:
            raise
        except TrelloError as error:
            log.info("batched poll failed (%s); polling board by board", error)
            return {}
        return {wanted[board_id]: page for board_id, page in pages.items() if page is not None}

    def sync_board(
        self,
        ref: str,
        *,
        force_reread: bool = False,
        post: bool = True,
        lease: Lease | None = None,
        prefetched: list[Json] | None = None,
    ) -> BoardOutcome:
        outcome = BoardOutcome(ref)
        started, requests_before = self._clock.monotonic(), self._requests()
        self._lease = lease
        try:
            return self._sync_board(ref, outcome, force_reread, post, prefetched)
        except TrelloAuthError:
            raise  # every board would fail the same way: the whole pass stops
        except Exception as error:
            # Whatever one board holds, the other boards, the outbox and the nightly
            # export go on: a bug met on this board is its problem, said in one line.
            outcome.problem = _shortened(f"unexpected error: {type(error).__name__}: {error}")
            log.debug("board %s: the traceback of that error", ref, exc_info=True)
            return outcome
        finally:
            self._lease = None
            outcome.seconds = self._clock.monotonic() - started
            outcome.requests = self._requests() - requests_before

    def _requests(self) -> int:
        stats = getattr(self._trello, "stats", None)
        return int(getattr(stats, "requests", 0))

    def _sync_board(
        self,
        ref: str,
        outcome: BoardOutcome,
        force_reread: bool,
        post: bool,
        prefetched: list[Json] | None,
    ) -> BoardOutcome:
        try:
            self._cycle(ref, outcome, force_reread, prefetched)
        except TrelloAuthError:
            raise
        except TrelloNotFound:
            outcome.problem = board_not_found(ref)
            outcome.unknown_board = True
        except (TrelloError, MalformedAction, LedgerConflict, LeaseLost, SpoolError) as error:
            outcome.problem = _shortened(str(error))
        if outcome.problem:
            # Not logged here: every caller says each board's outcome in its own line (the
            # CLI on standard output, the worker in its log), and twice reads as two.
            return outcome
        if post and outcome.board_id:
            crash_point("after_commit_before_post")
            try:
                outcome.outbox = self.outbox.post_pending(outcome.board_id, self._lease)
            except TrelloAuthError:
                raise
            except (TrelloError, LeaseLost) as error:
                outcome.problem = f"replies not all posted: {error}"
        return outcome

    # --- one board --------------------------------------------------------------------
    def _cycle(
        self, ref: str, outcome: BoardOutcome, force_reread: bool, prefetched: list[Json] | None
    ) -> None:
        board_id, flagged, checkpoint = self._board(ref, outcome)
        now = self._clock.now()
        window_start = self._window_start(now)
        view = self._view(board_id, checkpoint, window_start)
        first = checkpoint is None
        outcome.first_sync = first
        if first and self._first_synced(board_id) is None:
            # Before anything is planned: the first sync's own reminders are bounded by it,
            # and a first sync that fails, or commits only some chunks before a crash,
            # keeps the moment of its first try when it is run again.
            self._ledger.set_meta(FIRST_SYNC_META + board_id, format_instant(now))
        with ActionSpool(memory_limit=self.spool_memory) as spool:
            window = self._gather(board_id, checkpoint, prefetched, spool)
            outcome.fetched = len(spool)
            reread_due = first or force_reread or self._reread_due(board_id, now)
            current_comments: frozenset[str] = frozenset()
            if reread_due and not first:
                current_comments = self._reread_comments(board_id, window_start, spool)
            state = CycleState(view, window, first, reread_due, current_comments, now, window_start)
            if self.outline_views:
                state.skeletons = set(view.cards)
            self._plan_window(board_id, spool, state, outcome)
        if state.problem:
            return
        if reread_due:
            self._ledger.set_meta(REREAD_META + board_id, format_instant(now))
        if flagged and state.planned:
            self._ledger.flag_board(board_id, None)
        outcome.reread = reread_due and state.planned

    def _gather(
        self,
        board_id: str,
        checkpoint: Checkpoint | None,
        prefetched: list[Json] | None,
        spool: ActionSpool,
    ) -> Window:
        """Reads the window into the spool page by page; what the whole window says.
        Every page is parsed before anything is planned: a malformed action anywhere
        changes nothing."""
        window = Window()
        if prefetched is not None:
            window.read([prefetched], spool)
        elif checkpoint is not None:
            window.read(
                self._trello.board_action_pages(board_id, since=self._since(checkpoint)), spool
            )
        elif self._progress is not None:  # a first sync: all of the board's history
            on_page, close = self._progress(board_id)
            try:
                window.read(self._trello.board_action_pages(board_id, on_page=on_page), spool)
            finally:
                close()
        else:
            window.read(self._trello.board_action_pages(board_id), spool)
        return window

    def _reread_comments(
        self, board_id: str, window_start: datetime, spool: ActionSpool
    ) -> frozenset[str]:
        """Every comment of the open months, read again: an edit or a deletion shows
        only here. Returns their ids; adds the versions not applied yet to the spool."""
        comments = self._trello.board_actions(
            board_id, since=format_instant(window_start), action_filter="commentCard"
        )
        parsed = [parse_action(item) for item in comments]
        fresh = self._unapplied(board_id, parsed)
        # The window's own copy wins, unless that copy is applied already and this is a
        # newer version of it (edited between the two reads).
        held = spool.versions(a.id for a in fresh)
        applied = self._ledger.applied_versions(board_id, set(held))
        spool.add(a for a in fresh if a.id in held and (a.id, held[a.id]) in applied)
        spool.add((a for a in fresh if a.id not in held), replace=False)
        return frozenset(a.id for a in parsed)

    def _plan_window(
        self, board_id: str, spool: ActionSpool, state: CycleState, outcome: BoardOutcome
    ) -> None:
        """Plans the window oldest first. A long one (a first sync of years of history) is
        planned and committed `chunk_size` actions at a time, each commit with its own
        checkpoint: memory stays bounded, and a crash keeps the chunks already done."""
        chunks = spool.chunks(self.chunk_size)
        remaining = len(spool)
        for chunk in chunks:
            remaining -= len(chunk)
            actions = self._unapplied(board_id, chunk)
            if remaining == 0:
                self._plan_last(board_id, actions, state, outcome)
                return
            last = chunk[-1]
            checkpoint = Checkpoint(last.id, last.date)
            if not actions:
                self._commit(board_id, Plan(checkpoint=checkpoint))
                continue
            # The whole window's cards and commands: a chunk cannot see the later ones.
            flags = (spool.has_commands, spool.has_markers)
            if not self._prepare(board_id, state, outcome, spool.card_kinds, *flags):
                return
            assert state.facts is not None and state.config is not None
            touched = {a.card_id for a in actions if a.card_id}
            self._load_whole(board_id, state, touched)
            result = plan(actions, state.view, state.facts, state.config, advance_checkpoint=False)
            result = replace(result, checkpoint=checkpoint)
            self._commit(board_id, result)
            _count(outcome, result)
            state.planned = True
            # Later chunks never see these comments again (ids are unique in a window):
            # only the open months' are kept, for the deletion check at the end.
            recent = tuple(a for a in result.applied if a.at >= state.window_start)
            state.view = apply_plan(state.view, replace(result, applied=recent))
            state.cut_down(touched)
        self._plan_last(board_id, [], state, outcome)

    def _load_whole(self, board_id: str, state: CycleState, card_ids: set[str]) -> None:
        """Cards cut down earlier in the cycle, whole again from the ledger (every chunk
        before this one is committed, so the ledger has all of them)."""
        wanted = card_ids & state.skeletons
        if not wanted:
            return
        cards = dict(state.view.cards)
        cards.update(self._ledger.card_states(board_id, wanted))
        state.view = replace(state.view, cards=cards)
        state.skeletons -= wanted

    def _prepare(
        self,
        board_id: str,
        state: CycleState,
        outcome: BoardOutcome,
        events: Collection[CardEvent],
        commands: bool,
        markers: bool,
    ) -> bool:
        """The board's facts and the planner's config, asked once per cycle; False (and
        the board flagged) when the board looks wiped."""
        if state.facts is not None:
            return True
        facts, problem = self._facts(board_id, state.view, events)
        if problem:
            self._ledger.flag_board(board_id, problem)
            outcome.problem = state.problem = problem
            return False
        state.facts = facts
        state.config = self._planner_config(state.now, commands, markers)
        return True

    def _plan_last(
        self, board_id: str, actions: list[Action], state: CycleState, outcome: BoardOutcome
    ) -> None:
        # A first sync has read every comment: nothing to compare with.
        rereading = state.reread_due and not state.first
        touched = {a.card_id for a in actions if a.card_id}
        if rereading:  # the cards of comments that may have been deleted
            touched |= {
                c.card_id
                for c in state.view.comments.values()
                if c.card_id
                and c.at >= state.window_start
                and c.action_id not in state.current_comments
            }
        self._load_whole(board_id, state, touched)
        view, now = state.view, state.now
        if not actions and not (rereading and view.comments):
            self._advance_over_applied(board_id, view.checkpoint, state.window)
            reminders = self._new_reminders(board_id, view, now)
            if reminders:
                self._commit(board_id, Plan(replies=tuple(reminders)))
                outcome.replies_planned += len(reminders)
            return
        commands = any(_is_command(a) for a in actions)
        markers = any(carries_marker(a.text) for a in actions)
        if not self._prepare(board_id, state, outcome, actions, commands, markers):
            return
        assert state.facts is not None and state.config is not None
        facts, config = state.facts, state.config
        result = plan(actions, view, facts, config, advance_checkpoint=False)
        if state.window.latest is not None:
            # Everything up to the newest action of this (complete) fetch has been seen.
            result = replace(result, checkpoint=state.window.latest)
        if rereading:
            deleted = plan_deleted_comments(
                state.current_comments,
                state.window_start,
                apply_plan(view, result),
                facts,
                config,
                now,
            )
            result = merge_plans(result, deleted)
        reminders = self._new_reminders(board_id, apply_plan(view, result), now)
        result = replace(result, replies=result.replies + tuple(reminders))
        if not result.is_empty or result.checkpoint:
            self._commit(board_id, result)
        _count(outcome, result)
        state.planned = True

    def _advance_over_applied(
        self, board_id: str, checkpoint: Checkpoint | None, window: Window
    ) -> None:
        """Nothing new, but the fetch returned actions already applied (our own replies,
        recorded when posted; or a rewound checkpoint). Moving the checkpoint is a write,
        and an idle poll should write nothing: so it moves only when the window has grown
        enough to cost something, or when there was no checkpoint at all."""
        latest = window.latest
        if latest is None:
            return
        newer = checkpoint is None or (latest.at, latest.action_id) > (
            checkpoint.at,
            checkpoint.action_id,
        )
        if newer and (checkpoint is None or window.size >= IDLE_WINDOW_LIMIT):
            self._commit(board_id, Plan(checkpoint=latest))

    def _commit(self, board_id: str, plan: Plan) -> None:
        self._ledger.commit(board_id, plan, lease=self._lease)

    def _new_reminders(self, board_id: str, view: BoardView, now: datetime) -> list[Reply]:
        """Time-driven replies not in the outbox yet (so an idle poll still writes nothing).

        Only those that came due within reply_history_days, and after the ledger first
        synced the board (a board first synced by an older version has no such moment)."""
        due_since = now - timedelta(days=self._settings.reply_history_days)
        first_synced = self._first_synced(board_id)
        if first_synced is not None:
            due_since = max(due_since, first_synced)
        due = plan_reminders(
            view,
            now,
            pause_warning_days=self._settings.pause_warning_days,
            nudge_days=self._settings.nudge_days,
            tz=self._settings.zone,
            due_since=due_since,
        )
        if not due:
            return []
        known = {reply.reply_id for reply in self._ledger.replies(board_id)}
        return [reply for reply in due if reply.reply_id not in known]

    def _first_synced(self, board_id: str) -> datetime | None:
        value = self._ledger.get_meta(FIRST_SYNC_META + board_id)
        return parse_instant(value) if value is not None else None

    def _board(self, ref: str, outcome: BoardOutcome) -> tuple[str, bool, Checkpoint | None]:
        """The board's id (asked of Trello once, then kept), whether it is flagged, and its
        checkpoint."""
        record = self._ledger.board_for_ref(ref)
        if record is not None:
            outcome.board_id, outcome.name = record.board_id, record.name
            return record.board_id, bool(record.flag), record.checkpoint
        board = self._trello.board(ref)
        board_id, name = str(board["id"]), str(board.get("name") or "")
        self._ledger.remember_board(ref, board_id, name)
        outcome.board_id, outcome.name = board_id, name
        return board_id, False, None

    def _view(
        self, board_id: str, checkpoint: Checkpoint | None, window_start: datetime
    ) -> BoardView:
        """What the cycle reads of the ledger before it knows which cards its actions
        touch: every card cut down to a skeleton, and the comments an action of this
        cycle can be a new version of (the window's, and the open months' the re-read
        sees). The cards the actions touch are loaded whole before they are planned."""
        if not self.outline_views:
            return self._ledger.board_view(board_id)
        since = window_start
        if checkpoint is not None:
            since = min(since, self._poll_start(checkpoint))
        return self._ledger.board_outline(board_id, comments_since=since)

    def _poll_start(self, checkpoint: Checkpoint) -> datetime:
        """Where a poll starts: a little before the checkpoint, in case Trello shows an
        action late (its order is not causal); what was applied already is skipped."""
        return checkpoint.at - timedelta(seconds=self._settings.overlap_seconds)

    def _since(self, checkpoint: Checkpoint) -> str:
        return format_instant(self._poll_start(checkpoint))

    def _unapplied(self, board_id: str, actions: list[Action]) -> list[Action]:
        if not actions:
            return []
        # Ids are unique here: the spool and the pager keep one copy of each.
        done = self._ledger.applied_versions(board_id, {a.id for a in actions})
        return [a for a in actions if (a.id, a.version) not in done]

    def _facts(
        self, board_id: str, view: BoardView, actions: Collection[CardEvent]
    ) -> tuple[BoardFacts, str | None]:
        snapshot = self._trello.board_snapshot(board_id)
        problem = empty_board_problem(len(snapshot.lists), len(snapshot.cards), view, actions)
        facts = facts_from_snapshot(
            snapshot.lists, snapshot.cards, snapshot.custom_fields, self._table
        )
        return facts, problem

    def _reread_due(self, board_id: str, now: datetime) -> bool:
        last = self._ledger.get_meta(REREAD_META + board_id)
        if last is None:
            return True
        return now - parse_instant(last) >= timedelta(seconds=self._settings.reread_interval)

    def _window_start(self, now: datetime) -> datetime:
        """The start of the open months: the first day of last month, local midnight."""
        local = now.astimezone(self._settings.zone)
        first_of_month = local.date().replace(day=1)
        last_month = (first_of_month - timedelta(days=1)).replace(day=1)
        return datetime.combine(last_month, datetime.min.time(), self._settings.zone)

    def _me(self) -> Json:
        """The member who owns the token, asked of Trello once per process."""
        if self._member is None:
            self._member = self._trello.me()
        return self._member

    def mentors(self) -> frozenset[str]:
        if self._mentors is None:
            configured = self._settings.mentors
            self._mentors = frozenset(configured or [str(self._me()["username"])])
        return self._mentors

    def service_member_id(self) -> str:
        """Who the service posts as: only that member's comments carry our markers."""
        return str(self._me()["id"])

    def _planner_config(self, now: datetime, commands: bool, markers: bool) -> PlannerConfig:
        reply_since = now - timedelta(days=self._settings.reply_history_days)
        # Asking Trello who owns the token costs a request: only when a command or a
        # marked comment needs it.
        mentors = self.mentors() if commands else frozenset()
        config = self._settings.planner_config(mentors, reply_since)
        if markers:
            config = replace(config, service_member_id=self.service_member_id())
        return config

"""One sync pass of the boards: the shell around the cycle's one decision.

For each board: read (Trello's pages or the batched poll, and the part of the ledger the
cycle needs), decide (`domain/cycle.py`, pure), commit each chunk's decision in one
transaction with its checkpoint, then post the outbox. Nothing here decides money, the
open months, what counts as a deleted comment, which reminders are due or where the
checkpoint goes. A board whose cycle fails (Trello gave up, a malformed answer, a ledger
conflict) commits nothing more and is reported; the other boards still sync. Only a bad
key or token stops the whole pass.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from trello_sync.claims import BoardClaims
from trello_sync.clock import Clock
from trello_sync.crash import crash_point
from trello_sync.domain import cycle
from trello_sync.domain.actions import Action, MalformedAction, action_order, format_instant
from trello_sync.domain.facts import CardEvent, empty_board_problem, facts_from_snapshot
from trello_sync.domain.planner import BoardFacts, PlannerConfig
from trello_sync.domain.records import BoardView, Checkpoint, Plan
from trello_sync.domain.text import shortened
from trello_sync.domain.views import held_whole
from trello_sync.ledger.store import (
    Lease,
    LeaseLost,
    LedgerConflict,
    LedgerStore,
    LedgerWriterStopped,
)
from trello_sync.ledger.writer import chunk_commits
from trello_sync.outbox import Outbox, OutboxResult
from trello_sync.readahead import read_ahead
from trello_sync.reread import reread_cards, reread_open_months, unapplied
from trello_sync.settings import Settings
from trello_sync.spool import MEMORY_LIMIT as SPOOL_MEMORY_LIMIT
from trello_sync.spool import ActionSpool, SpoolError
from trello_sync.trello.port import (
    BoardSnapshot,
    Json,
    PageProgress,
    TrelloAuthError,
    TrelloError,
    TrelloNotFound,
    TrelloPort,
)
from trello_sync.webhook_inbox import BoardWake
from trello_sync.window import Window

log = logging.getLogger(__name__)

# A window longer than this (a long absence) is planned and committed in chunks of this
# many actions: about 25 MB of working memory each.
CHUNK_SIZE = 20_000
# A first sync decides and commits its history this many actions at a time, as the
# slices arrive: small enough that deciding one chunk takes about as long as reading the
# next at Trello's rate limit (10 pages of 1,000 a second), so neither waits for long.
FIRST_SYNC_CHUNK = 5_000
# A first sync longer than this commits its later chunks in a writer process, while this
# one decides the next chunk (ledger/writer.py); a short one never starts it.
COMMIT_ASIDE_AFTER = 10_000
# Slices read ahead of the one being decided: each is up to about five pages of Trello's
# JSON (some 10 MB), so two cover the next chunk's reading without holding much more.
SLICES_AHEAD = 2

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


def _chunks_marking_the_last(spool: ActionSpool, size: int) -> Iterator[tuple[list[Action], bool]]:
    """The spool's chunks, each with whether it is the last; an empty window is one
    empty last chunk (its decision still moves the checkpoint and plans reminders)."""
    remaining = len(spool)
    if remaining == 0:
        yield [], True
        return
    for chunk in spool.chunks(size):
        remaining -= len(chunk)
        yield chunk, remaining == 0


@contextmanager
def _young_objects_collected_less() -> Iterator[None]:
    """A first sync makes millions of small objects that live (pages, actions, entries)
    and few that form cycles: the cyclic collector's default pace (every 700 new
    objects) spent a large part of its time walking them. It runs 100 times less often
    while the history is read, then at its old pace again."""
    before = gc.get_threshold()
    gc.set_threshold(70_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


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
        self._rules = cycle.CycleRules(
            tz=settings.zone,
            reread_interval_s=settings.reread_interval,
            overlap_s=settings.overlap_seconds,
            reply_history_days=settings.reply_history_days,
            pause_warning_days=settings.pause_warning_days,
            nudge_days=settings.nudge_days,
        )
        # How a long window is held and planned (small values in tests, to exercise both).
        self.chunk_size = CHUNK_SIZE
        self.first_sync_chunk = FIRST_SYNC_CHUNK
        self.commit_aside_after = COMMIT_ASIDE_AFTER
        self.spool_memory = SPOOL_MEMORY_LIMIT

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

    def sync_woken(
        self, wakes: Mapping[str, BoardWake], *, post: bool = True
    ) -> list[BoardOutcome]:
        """The cycles webhook deliveries asked for, board id by board id: each the same
        cycle as a poll's (the feed from the checkpoint), plus the comments of the cards
        a delivery said were edited or deleted. A board not configured, not synced yet
        (its first sync is the poll's) or held by another worker is left to its poll."""
        refs = {r.board_id: r.ref for r in self._ledger.boards() if r.checkpoint is not None}
        configured = set(self._settings.boards)
        outcomes = []
        for board_id, wake in wakes.items():
            ref = refs.get(board_id)
            if ref is None or ref not in configured:
                log.debug("webhook wake-up for board %s ignored: not synced here", board_id)
                continue
            lease = self._claims.lease_for(ref) if self._claims is not None else None
            if self._claims is not None and lease is None:
                log.debug("webhook wake-up for board %s ignored: another worker holds it", ref)
                continue
            outcomes.append(
                self.sync_board(
                    ref, force_reread=wake.reread, post=post, lease=lease, cards=wake.cards
                )
            )
        return outcomes

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
        cards: Collection[str] = (),
    ) -> BoardOutcome:
        """One board's cycle; `cards`: cards whose comments are read again too (a webhook
        said one was edited or deleted)."""
        outcome = BoardOutcome(ref)
        started, requests_before = self._clock.monotonic(), self._requests()
        self._lease = lease
        try:
            return self._sync_board(ref, outcome, force_reread, post, prefetched, cards)
        except TrelloAuthError:
            raise  # every board would fail the same way: the whole pass stops
        except Exception as error:
            # Whatever one board holds, the other boards, the outbox and the nightly
            # export go on: a bug met on this board is its problem, said in one line.
            outcome.problem = shortened(
                f"unexpected error: {type(error).__name__}: {error}", PROBLEM_MAX
            )
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
        cards: Collection[str] = (),
    ) -> BoardOutcome:
        try:
            self._cycle(ref, outcome, force_reread, prefetched, cards)
        except TrelloAuthError:
            raise
        except TrelloNotFound:
            outcome.problem = board_not_found(ref)
            outcome.unknown_board = True
        except (
            TrelloError,
            MalformedAction,
            LedgerConflict,
            LeaseLost,
            LedgerWriterStopped,
            SpoolError,
        ) as error:
            outcome.problem = shortened(str(error), PROBLEM_MAX)
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
        self,
        ref: str,
        outcome: BoardOutcome,
        force_reread: bool,
        prefetched: list[Json] | None,
        cards: Collection[str] = (),
    ) -> None:
        """Read, decide (domain/cycle.py), commit: chunk by chunk, each chunk's decision
        committed in one transaction with its checkpoint. The shell decides nothing."""
        board_id, flagged, checkpoint = self._board(ref, outcome)
        now, rules = self._clock.now(), self._rules
        view = self._ledger.board_outline(board_id, cycle.comments_since(checkpoint, now, rules))
        state = cycle.start_cycle(view, now, rules, forced_reread=force_reread, flagged=flagged)
        outcome.first_sync = state.first
        if state.first and prefetched is None:
            outcome.reread = self._first_sync(board_id, view, state, outcome) and state.reread
            return
        with ActionSpool(memory_limit=self.spool_memory) as spool:
            window = self._gather(board_id, checkpoint, prefetched, spool)
            outcome.fetched = len(spool)
            if state.rereading:
                read = reread_open_months(self._trello, self._ledger, board_id, state, spool)
                state = state.with_comments(read)
            elif cards:
                read = reread_cards(self._trello, self._ledger, board_id, cards, state, spool)
                state = state.with_cards_reread(cards, read)
            planned = self._plan_window(board_id, spool, window, view, state, outcome)
        outcome.reread = state.reread and planned

    def _first_sync(
        self, board_id: str, view: BoardView, state: cycle.Cycle, outcome: BoardOutcome
    ) -> bool:
        """A first sync reads the board's whole history: in time slices, oldest first,
        read ahead in a background thread while the slices already read are decided and
        committed, so that the work hides behind Trello's rate-limit waits. Each chunk is
        committed with its checkpoint: a crash keeps them, and the next run goes on from
        there. Returns whether anything was planned.

        A board that shows no lists or no cards may be wiped, or its cards all gone on
        purpose: only the whole history tells, so such a board is read whole first (the
        spooled path of every other cycle)."""
        snapshot = self._trello.board_snapshot(board_id)
        if not snapshot.lists or not snapshot.cards:
            with ActionSpool(memory_limit=self.spool_memory) as spool:
                window = Window()
                window.read(self._history(board_id), spool)
                outcome.fetched = len(spool)
                return self._plan_window(
                    board_id, spool, window, view, state, outcome, snapshot=snapshot
                )
        facts = facts_from_snapshot(
            snapshot.lists, snapshot.cards, snapshot.custom_fields, self._table
        )
        config = self._settings.planner_config(frozenset(), state.reply_since)
        window, planned, pending = Window(), False, []
        with (
            _young_objects_collected_less(),
            read_ahead(self._history(board_id), ahead=SLICES_AHEAD) as slices,
            chunk_commits(
                self._ledger, self._lease, self._ledger.now, self.commit_aside_after
            ) as commits,
        ):
            size = min(self.chunk_size, self.first_sync_chunk)
            for page in slices:
                pending += window.take(page)
                while len(pending) >= size:
                    actions, pending = pending[:size], pending[size:]
                    outcome.fetched += len(actions)
                    config = self._config_for(actions, config)
                    view = self._hold_whole(board_id, view, actions, state, last=False)
                    newest = max(actions, key=action_order)  # a late action may come first
                    end = Checkpoint(newest.id, newest.date)
                    decision = cycle.decide_chunk(actions, view, facts, config, state, end=end)
                    # When this returns, every chunk before this one is in the ledger:
                    # the cards the next one reads whole were last touched by those.
                    if not decision.plan.writes_nothing:
                        commits.commit(board_id, decision.plan, outcome.fetched)
                    _count(outcome, decision.plan)
                    planned, view = planned or decision.planned, decision.view
        outcome.fetched += len(pending)
        config = self._config_for(pending, config)
        view = self._hold_whole(board_id, view, pending, state, last=True)
        decision = self._decide_last(pending, view, facts, config, state, window, planned)
        self._apply(board_id, decision, outcome)
        return planned or decision.planned

    def _hold_whole(
        self,
        board_id: str,
        view: BoardView,
        actions: list[Action],
        state: cycle.Cycle,
        *,
        last: bool,
    ) -> BoardView:
        """The view with the cards this chunk's decision needs read whole."""
        needed = cycle.cards_to_hold_whole(view, actions, state, last=last)
        if not needed:
            return view
        return held_whole(view, self._ledger.card_states(board_id, needed))

    def _history(self, board_id: str) -> Iterator[list[Json]]:
        """The board's whole history, slice by slice, with the progress display."""
        on_page, close = self._progress(board_id) if self._progress else (None, None)
        try:
            yield from self._trello.board_history_slices(board_id, on_page=on_page)
        finally:
            if close is not None:
                close()

    def _config_for(self, actions: list[Action], config: PlannerConfig) -> PlannerConfig:
        """The planner's config as these actions need it."""
        return self._with_members(
            config,
            commands=cycle.needs_mentors(actions),
            markers=cycle.needs_service_member(actions),
        )

    def _with_members(
        self, config: PlannerConfig, *, commands: bool, markers: bool
    ) -> PlannerConfig:
        """Who the mentors are once a command needs it, who the service posts as once a
        marked comment does: asking Trello who owns the token costs a request, so only
        then (and once per process)."""
        if commands and not config.mentors:
            with_mentors = self._settings.planner_config(self.mentors(), config.reply_since)
            config = replace(config, mentors=with_mentors.mentors)
        if markers and config.service_member_id is None:
            config = replace(config, service_member_id=self.service_member_id())
        return config

    def _gather(
        self,
        board_id: str,
        checkpoint: Checkpoint | None,
        prefetched: list[Json] | None,
        spool: ActionSpool,
    ) -> Window:
        """Reads the window into the spool page by page; what the whole window says.
        Every page is parsed before anything is planned: a malformed action anywhere
        changes nothing. (A first sync reads its history in slices: see _first_sync.)"""
        window = Window()
        if prefetched is not None:
            window.read([prefetched], spool)
        else:
            assert checkpoint is not None, "a poll starts from the checkpoint"
            pages = self._trello.board_action_pages(board_id, since=self._since(checkpoint))
            window.read(pages, spool)
        return window

    def _plan_window(
        self,
        board_id: str,
        spool: ActionSpool,
        window: Window,
        view: BoardView,
        state: cycle.Cycle,
        outcome: BoardOutcome,
        *,
        snapshot: BoardSnapshot | None = None,
    ) -> bool:
        """The window oldest first, in chunks of `chunk_size` (a long window): memory
        stays bounded, and a crash keeps the chunks already committed. Each chunk: its
        unapplied actions and the cards they need whole are read, then decided, then
        committed. Returns whether anything was planned."""
        planned = False
        known: tuple[BoardFacts, PlannerConfig] | None = None  # read once per cycle
        for chunk, last in _chunks_marking_the_last(spool, self.chunk_size):
            actions = self._unapplied(board_id, chunk)
            view = self._hold_whole(board_id, view, actions, state, last=last)
            if known is None and not cycle.is_idle(view, actions, state, last=last):
                if last:
                    events: Collection[CardEvent] = actions
                    needs = (cycle.needs_mentors(actions), cycle.needs_service_member(actions))
                else:  # a chunk before the last cannot see the later ones: the whole window's
                    events, needs = spool.card_kinds, (spool.has_commands, spool.has_markers)
                found = self._facts_and_config(board_id, view, events, state, snapshot, *needs)
                if isinstance(found, str):
                    outcome.problem = found  # the board looks wiped: flagged, nothing planned
                    return planned
                known = found
            facts, config = known if known is not None else (None, None)
            if last:
                decision = self._decide_last(actions, view, facts, config, state, window, planned)
            else:
                end = Checkpoint(chunk[-1].id, chunk[-1].date)
                decision = cycle.decide_chunk(actions, view, facts, config, state, end=end)
            self._apply(board_id, decision, outcome)
            planned = planned or decision.planned
            view = decision.view
        return planned

    def _facts_and_config(
        self,
        board_id: str,
        view: BoardView,
        events: Collection[CardEvent],
        state: cycle.Cycle,
        snapshot: BoardSnapshot | None,
        commands: bool,
        markers: bool,
    ) -> tuple[BoardFacts, PlannerConfig] | str:
        """The board's facts (one snapshot request, unless the cycle has read it already)
        and the planner's config; or, the board flagged, the problem when the board looks
        wiped."""
        snapshot = snapshot or self._trello.board_snapshot(board_id)
        problem = empty_board_problem(len(snapshot.lists), len(snapshot.cards), view, events)
        if problem:
            self._ledger.flag_board(board_id, problem)
            return problem
        facts = facts_from_snapshot(
            snapshot.lists, snapshot.cards, snapshot.custom_fields, self._table
        )
        config = self._settings.planner_config(frozenset(), state.reply_since)
        return facts, self._with_members(config, commands=commands, markers=markers)

    @staticmethod
    def _decide_last(
        actions: list[Action],
        view: BoardView,
        facts: BoardFacts | None,
        config: PlannerConfig | None,
        state: cycle.Cycle,
        window: Window,
        planned_before: bool,
    ) -> cycle.Decision:
        return cycle.decide_last(
            actions,
            view,
            facts,
            config,
            state,
            latest=window.latest,
            window_size=window.size,
            planned_before=planned_before,
        )

    def _apply(self, board_id: str, decision: cycle.Decision, outcome: BoardOutcome) -> None:
        """Commits a decision (an idle one writes nothing: no transaction) and counts it."""
        if not decision.plan.writes_nothing:
            self._commit(board_id, decision.plan)
        _count(outcome, decision.plan)

    def _commit(self, board_id: str, plan: Plan) -> None:
        self._ledger.commit(board_id, plan, lease=self._lease)

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

    def _since(self, checkpoint: Checkpoint) -> str:
        return format_instant(cycle.poll_start(checkpoint, self._settings.overlap_seconds))

    def _unapplied(self, board_id: str, actions: list[Action]) -> list[Action]:
        return unapplied(self._ledger, board_id, actions)

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

"""The benchmarks' Trello: the product's sandbox, boards built fast, settings and helpers.

`FastState` is the product's `SandboxState` with two changes. The comments count of each
card (in every card answer) is kept up to date instead of counted over every action of
the sandbox on each card write. And a board's actions feed is answered from a per-board
index (bisect on ids/dates) instead of scanning and sorting
every action of the sandbox on each page, and without the deep copy of the page. The
answers are the same (checked by `verify_feed` at the start of the replay benchmark);
only the sandbox's own cost per page drops from O(all actions) to O(page), so that a
1,000,000-action history can be paged at all (the stock sandbox needs ~2.5 s per page at
1M actions, i.e. ~40 min for one pass) and the floor measures the HTTP path, not the
sandbox's linear scan.

The server is the product's `SandboxServer`, its connections with TCP_NODELAY unless
`BENCH_NAGLE=1` (`run.py --nagle`). The handler writes the headers and the body of each
answer in two writes, and with Nagle's algorithm on the server socket the body waits for
the client's delayed ACK: ~44 ms added to every request on loopback (1.9 ms with
TCP_NODELAY), which would swamp every per-request figure here. (The product's sandbox
now sets `disable_nagle_algorithm = True` itself; set here explicitly either way.)
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trello_sync.sandbox import shapes
from trello_sync.sandbox.server import SandboxServer, _Handler
from trello_sync.sandbox.state import SandboxState
from trello_sync.trello.port import ACTION_FILTER

Json = dict[str, Any]

MENTOR = ("camille_mentor", "Camille Martin")
STUDENT = ("alice_student", "Alice Nguyen")
LISTS = ("En attente", "Active", "En pause", "Handed off")
TIMEZONE = "Europe/Paris"
REAL_TOKEN_LIMIT = 100  # Trello: 100 requests / 10 s per token
REAL_KEY_LIMIT = 300  # and 300 / 10 s per key
ROOT = Path(__file__).resolve().parent.parent


# --- the indexed sandbox state ---------------------------------------------------------


class FastState(SandboxState):
    """SandboxState whose board feed is served from an index (same answers, O(page))."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._feed: dict[str, tuple[list[str], list[str], list[Json]]] | None = None
        self._counts: Counter[str] | None = None

    # Any new action (or a vanished one) invalidates the index; it is rebuilt lazily.
    def _record(
        self, actor: str, action_type: str, data: Json, key: str, at: datetime | None
    ) -> Json:
        self._feed = None
        action = super()._record(actor, action_type, data, key, at)
        if self._counts is not None and action_type == "commentCard":
            self._counts[action["data"]["card"]["id"]] += 1
        return action

    def delete_comment(self, actor: str, action_id: str, *, at: datetime | None = None) -> None:
        with self._lock:
            self._feed = self._counts = None
            super().delete_comment(actor, action_id, at=at)

    def delete_card(self, actor: str, card_ref: str, *, at: datetime | None = None) -> None:
        with self._lock:
            self._feed = self._counts = None
            super().delete_card(actor, card_ref, at=at)

    def _comment_counts(self) -> Counter[str]:
        # The stock one counts every action of the sandbox on each call, and every card
        # answer (create, move...) calls it: O(actions) per card write. Kept up to date.
        if self._counts is None:
            self._counts = super()._comment_counts()
        return self._counts

    def _feed_index(self) -> dict[str, tuple[list[str], list[str], list[Json]]]:
        if self._feed is None:
            per_board: dict[str, list[Json]] = {}
            for action in self._actions.values():
                board_id = str((action["data"].get("board") or {}).get("id") or "")
                per_board.setdefault(board_id, []).append(action)
            index = {}
            for board_id, actions in per_board.items():
                # Ids are (second, millisecond, counter): id order is (date, id) order.
                actions.sort(key=lambda a: (a["date"], a["id"]))
                index[board_id] = (
                    [a["id"] for a in actions],
                    [a["date"] for a in actions],
                    actions,
                )
            self._feed = index
        return self._feed

    def board_actions(
        self,
        board_ref: str,
        *,
        filter: str | None = "all",
        since: str | None = None,
        before: str | None = None,
        limit: int = 50,
        page: int = 0,
        fields: str | None = None,
        member_creator: bool = True,
    ) -> list[Json]:
        with self._lock:
            board_id = self._board(board_ref)["id"]
            shapes.check_limit(limit, page)
            wanted = shapes.parse_filter(filter)
            low = shapes._bound(since, "since")
            high = shapes._bound(before, "before")
            ids, dates, actions = self._feed_index().get(board_id, ([], [], []))
            lo = 0
            if low is not None:
                lo = bisect_right(ids if low[0] == "id" else dates, low[1])
            hi = len(actions)
            if high is not None:
                hi = bisect_left(ids if high[0] == "id" else dates, high[1])
            # The sandbox's "hide" fault (an action Trello shows late), where it exists.
            visible = getattr(self, "_visible", None)
            need = (page + 1) * limit
            picked: list[Json] = []
            i = hi - 1
            while i >= lo and len(picked) < need:
                action = actions[i]
                if shapes._matches(action, wanted) and (visible is None or visible(action)):
                    picked.append(action)
                i -= 1
            return shapes.select_actions(
                picked,
                filter="all",
                limit=limit,
                page=page,
                fields=fields,
                with_member_creator=member_creator,
            )


def verify_feed(state: FastState, board_id: str) -> None:
    """The indexed feed answers exactly like the stock sandbox (raises AssertionError)."""
    stock = SandboxState.board_actions
    everything = stock(state, board_id, filter="all", limit=1000)
    middle = everything[len(everything) // 2] if everything else None
    cases: list[dict[str, Any]] = [
        {"filter": ACTION_FILTER, "limit": 1000},
        {"filter": "commentCard", "limit": 50, "page": 3},
        {"filter": "all", "limit": 1000},
    ]
    if middle is not None:
        cases += [
            {"filter": ACTION_FILTER, "limit": 1000, "before": middle["id"]},
            {"filter": ACTION_FILTER, "limit": 1000, "since": middle["id"]},
            {"filter": ACTION_FILTER, "limit": 1000, "since": middle["date"]},
            {"filter": "updateCard:idList", "limit": 1000, "before": middle["date"]},
        ]
    for case in cases:
        fast = state.board_actions(board_id, **case)
        slow = stock(state, board_id, **case)
        assert json.dumps(fast) == json.dumps(slow), f"indexed feed differs for {case}"


# --- a world: a state, its members, a server ----------------------------------------------


class _NoDelayHandler(_Handler):
    disable_nagle_algorithm = True  # socketserver sets TCP_NODELAY on each connection


class _NagleHandler(_Handler):
    disable_nagle_algorithm = False  # the stock sandbox before it set TCP_NODELAY itself


def keep_nagle() -> bool:
    return os.environ.get("BENCH_NAGLE") == "1"


@dataclass
class World:
    state: FastState
    server: SandboxServer
    api_key: str

    @property
    def url(self) -> str:
        return self.server.url

    def token(self) -> str:
        """A fresh token for the mentor: its own rate-limit window."""
        return self.state.add_token(MENTOR[0])

    def mark(self) -> int:
        entries = self.server.log.entries()
        return entries[-1]["seq"] if entries else 0

    def log_since(self, seq: int) -> list[Json]:
        return self.server.log.entries(seq)

    def fresh_windows(self) -> None:
        """Every token's and key's rate-limit window starts afresh (as after a 10 s wait)."""
        with self.server._limits_lock:
            self.server.token_limiter._windows.clear()
            self.server.key_limiter._windows.clear()

    def set_limits(self, token_limit: int, key_limit: int) -> None:
        with self.server._limits_lock:
            self.server.token_limiter.max_requests = token_limit
            self.server.key_limiter.max_requests = key_limit

    def stop(self) -> None:
        self.server.stop()


@contextmanager
def world(
    seed: int = 6, token_limit: int = REAL_TOKEN_LIMIT, key_limit: int = REAL_KEY_LIMIT
) -> Iterator[World]:
    state = FastState(seed=seed)
    state.add_member(*MENTOR)
    state.add_member(*STUDENT)
    server = SandboxServer(state, token_limit=token_limit, key_limit=key_limit)
    server._httpd.RequestHandlerClass = _NagleHandler if keep_nagle() else _NoDelayHandler
    server.start()
    w = World(state, server, state.api_key)
    try:
        yield w
    finally:
        w.stop()


# --- boards ------------------------------------------------------------------------------


@dataclass
class Board:
    board_id: str
    lists: dict[str, str]
    cards: list[str] = field(default_factory=list)
    actions: int = 0  # actions in the product's feed (ACTION_FILTER)


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def new_board(state: FastState, name: str, at: datetime) -> Board:
    board = state.create_board(MENTOR[0], name, at=at)
    state.add_board_member(MENTOR[0], board["id"], STUDENT[0], at=at)
    lists = {
        list_name: state.create_list(
            MENTOR[0], board["id"], list_name, at=at + timedelta(seconds=i + 1)
        )["id"]
        for i, list_name in enumerate(LISTS)
    }
    return Board(board["id"], lists)


_comment = SandboxState.comment.__wrapped__  # type: ignore[attr-defined]  # no deep copy


def bulk_comments(state: FastState, items: Iterable[tuple[str, str, str, datetime]]) -> int:
    """(actor, card id, text, at) through the product's own comment code, one lock hold."""
    count = 0
    with state._lock:
        for actor, card_id, text, at in items:
            _comment(state, actor, card_id, text, at=at)
            count += 1
    return count


def idle_board(state: FastState, n_cards: int, *, now: datetime, seed: int = 1) -> Board:
    """A mentor's board of `n_cards` students with 60 days of quiet history."""
    rng = random.Random(seed)
    start = now - timedelta(days=60)
    board = new_board(state, f"Mentorat {n_cards} cards", start)
    moves = []
    for i in range(n_cards):
        at = start + timedelta(minutes=10 + i)
        card = state.create_card(MENTOR[0], board.lists["En attente"], f"Student {i:04d}", at=at)
        board.cards.append(card["id"])
        board.actions += 1
        if i % 5 != 0:
            moves.append((card["id"], at + timedelta(days=1)))
    for card_id, at in moves:
        state.move_card(MENTOR[0], card_id, board.lists["Active"], at=at)
        board.actions += 1
    board.actions += bulk_comments(
        state,
        (
            (MENTOR[0], card_id, "/session 1h", at + timedelta(days=d, hours=rng.randint(0, 5)))
            for card_id, at in moves
            for d in (3, 10)
        ),
    )
    return board


_TEXTS = (
    (55, MENTOR[0], "/session"),
    (8, MENTOR[0], "/session 45m good progress"),
    (5, MENTOR[0], "/noshow no answer on the call"),
    (3, MENTOR[0], "/late cancelled two hours before"),
    (3, MENTOR[0], "/cancel student was sick"),
    (2, MENTOR[0], "/undo"),
    (4, STUDENT[0], "Merci pour la session !"),
    (20, MENTOR[0], "Notes: worked on the project plan and the next milestone."),
)


def history_board(state: FastState, n_actions: int, *, end: datetime, seed: int = 2) -> Board:
    """A board whose feed holds exactly `n_actions` actions the product reads.

    One card per 500 actions (at least 10): created, moved to Active the next day, then
    about 500 comments over a year (sessions, no-shows, undos, notes, a student's
    thanks); every third card is handed off at the end of its year. The cards are
    staggered over three years ending at `end`. Same density per card at every size,
    so only the length of the history changes.
    """
    rng = random.Random(seed)
    n_cards = max(10, n_actions // 500)
    life = timedelta(days=365)
    span = timedelta(days=3 * 365)
    start = end - span
    board = new_board(state, f"History {n_actions}", start - timedelta(days=1))
    step = (span - life) / n_cards
    cards: list[tuple[str, datetime, bool]] = []
    for k in range(n_cards):
        born = start + step * k
        card = state.create_card(MENTOR[0], board.lists["En attente"], f"Student {k:05d}", at=born)
        board.cards.append(card["id"])
        cards.append((card["id"], born, k % 3 == 0))
    # Moves while the sandbox is still small (each move reads every action once).
    for card_id, born, handed in cards:
        state.move_card(MENTOR[0], card_id, board.lists["Active"], at=born + timedelta(days=1))
        if handed:
            state.move_card(MENTOR[0], card_id, board.lists["Handed off"], at=born + life)
    structural = n_cards * 2 + sum(1 for *_, handed in cards if handed)
    if n_actions < structural:
        raise ValueError(f"{n_actions} actions is too few for {n_cards} cards")
    weights = [w for w, _, _ in _TEXTS]

    def comments() -> Iterator[tuple[str, str, str, datetime]]:
        remaining = n_actions - structural
        for index, (card_id, born, _) in enumerate(cards):
            count = remaining // n_cards + (1 if index < remaining % n_cards else 0)
            first = born + timedelta(days=2)
            days = (life - timedelta(days=4)).days
            for _ in range(count):
                _, actor, text = rng.choices(_TEXTS, weights)[0]
                day = first + timedelta(days=rng.randrange(days))
                at = day.replace(hour=8) + timedelta(milliseconds=rng.randrange(10 * 3600 * 1000))
                yield actor, card_id, text, at

    bulk_comments(state, comments())
    board.actions = n_actions
    return board


# --- settings for a product run ------------------------------------------------------------


def product_settings(
    api_url: str, api_key: str, token: str, boards: list[str], db: Path, **extra: Any
) -> Any:
    """Settings for one product run (nothing read from this machine's environment)."""
    from trello_sync.settings import load_settings

    with clean_env():
        return load_settings(
            api_url=api_url,
            api_key=api_key,
            token=token,
            boards=boards,
            database_url=f"sqlite:///{db}",
            export_dir=db.parent / "exports",
            timezone=TIMEZONE,
            mentors=[MENTOR[0]],
            **extra,
        )


@contextmanager
def clean_env() -> Iterator[None]:
    """No TRELLO_* variable and no ./trello-sync.toml from the caller leak into a run."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("TRELLO")}
    for k in saved:
        del os.environ[k]
    os.environ["TRELLO_SYNC_CONFIG"] = str(ROOT / "benchmarks" / "no-config.toml")
    try:
        yield
    finally:
        os.environ.pop("TRELLO_SYNC_CONFIG", None)
        os.environ.update(saved)


def child_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLO")}
    env["TRELLO_SYNC_CONFIG"] = str(ROOT / "benchmarks" / "no-config.toml")
    env["PYTHONPATH"] = str(ROOT)
    env.update(values)
    return env


@contextmanager
def worker_subprocess(env: dict[str, str], tmp: Path, info: dict[str, Any]) -> Iterator[None]:
    """`trello-sync run` in a subprocess, its output in `tmp/worker.log`; stopped with a
    SIGTERM (then killed after 30 s), its exit code and last log lines put in `info`."""
    log_path = tmp / "worker.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trello_sync", "run"],
            env=env,
            cwd=tmp,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        info["pid"] = proc.pid
        try:
            yield
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            info["exit_code"] = proc.returncode
            info["log_tail"] = log_path.read_text(errors="replace").splitlines()[-5:]


def run_child(args: list[str], env: dict[str, str], timeout: float, cwd: Path) -> Json:
    """`python -m benchmarks.child ARGS`; its last stdout line is a JSON object."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"child {args[0]} exited {proc.returncode}: {' | '.join(tail)}")
    result: Json = json.loads(lines[-1])
    return result


# --- measuring -----------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM; ru_maxrss where there is no /proc)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def available_mb() -> float:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("inf")


def log_time(entry: Json) -> float:
    """A request-log entry's time (the sandbox clock, ms) as a UNIX timestamp."""
    return shapes.parse_date(entry["time"]).timestamp()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.start

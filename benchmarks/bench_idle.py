"""1. Requests per idle poll: trello-sync beside the py-trello script a user would write.

For each board size, on one sandbox (real rate limits, 100 / 10 s per token):
- trello-sync: a first sync, then one more `Syncer.sync_all()` with nothing changed;
- py-trello: the naive poll (list the board's cards, then each card's actions), through
  py-trello's own `Board.get_cards()` and `Card.fetch_actions()`.
Requests are counted from the sandbox's request log. The naive script is given a
transport that waits 1 s on a 429 and tries again (py-trello alone would raise).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from benchmarks.table import Result, secs
from benchmarks.world import World, idle_board, product_settings, world

TRELLO_PREFIX = "https://api.trello.com/1"


class SandboxTransport:
    """What a user passes as py-trello's `http_service` to reach the sandbox; waits on 429."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.rate_limited = 0

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        url = url.replace(TRELLO_PREFIX, self.base_url, 1)
        while True:
            resp = self.session.request(method, url, timeout=(5, 60), **kwargs)
            if resp.status_code != 429:
                return resp
            self.rate_limited += 1
            time.sleep(1.0)


def _statuses(log: list[dict[str, Any]]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(e["status"] for e in log).items())}


def trello_sync_idle(w: World, board_id: str, db: Path) -> dict[str, Any]:
    from trello_sync.app import open_app
    from trello_sync.clock import SystemClock

    settings = product_settings(w.url, w.api_key, w.token(), [board_id], db)
    with open_app(settings, SystemClock()) as app:
        syncer = app.require_syncer()
        first = syncer.sync_all()
        if first[0].problem:
            raise RuntimeError(f"first sync failed: {first[0].problem}")
        mark = w.mark()
        started = time.perf_counter()
        outcomes = syncer.sync_all()
        seconds = time.perf_counter() - started
        log = w.log_since(mark)
    if outcomes[0].problem:
        raise RuntimeError(f"idle sync failed: {outcomes[0].problem}")
    return {
        "requests": len(log),
        "statuses": _statuses(log),
        "seconds": seconds,
        "routes": sorted({e["path"] for e in log}),
        "first_sync_applied": first[0].applied,
    }


def naive_idle(w: World, board_id: str) -> dict[str, Any]:
    from trello import Board, TrelloClient

    transport = SandboxTransport(w.url)
    client = TrelloClient(api_key=w.api_key, token=w.token(), http_service=transport)
    mark = w.mark()
    started = time.perf_counter()
    board = Board(client=client, board_id=board_id)
    actions = 0
    for card in board.get_cards():
        actions += len(
            card.fetch_actions(
                action_filter="createCard,commentCard,updateCard:idList", action_limit=1000
            )
        )
    seconds = time.perf_counter() - started
    log = w.log_since(mark)
    return {
        "requests": len(log),
        "requests_ok": sum(1 for e in log if e["status"] == 200),
        "statuses": _statuses(log),
        "rate_limited": transport.rate_limited,
        "seconds": seconds,
        "actions_read": actions,
    }


def run(quick: bool) -> Result:
    result = Result("idle", "1. Requests per idle poll")
    sizes = [20, 50] if quick else [20, 100, 1000]
    result.data["sizes"] = {}
    with world() as w, tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        now = datetime.now(UTC)
        for n in sizes:
            figure = f"idle poll, 1 board of {n:,} cards: requests"
            try:
                board = idle_board(w.state, n, now=now, seed=n)
                ours = trello_sync_idle(w, board.board_id, Path(tmp) / f"idle-{n}.db")
                naive = naive_idle(w, board.board_id)
            except Exception as error:  # one size failing leaves the others measured
                result.add(
                    figure, "trello-sync: 1", f"error: {type(error).__name__}: {error}", False
                )
                continue
            result.data["sizes"][n] = {"trello_sync": ours, "py_trello": naive}
            measured = (
                f"trello-sync {ours['requests']} ({secs(ours['seconds'])}) · "
                f"py-trello {naive['requests_ok']} ({secs(naive['seconds'])}"
                + (f", {naive['rate_limited']}× 429" if naive["rate_limited"] else "")
                + ")"
            )
            result.add(figure, "trello-sync: 1", measured, ours["requests"] == 1)
    return result

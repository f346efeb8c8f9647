"""The worker with Slack (trello_sync/notify.py) on a FakeClock: the real Syncer over the
in-memory Trello, a real ledger, and a real local fake Slack endpoint. Days of schedule
without waiting: one summary a day at the local time (across a daylight-saving change),
a missed one at start, once across a restart and between two workers racing on one
ledger; alerts once per occurrence and a line when they clear; Slack's failures tried
again at the next cycle, never twice, never a crash."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import BACKENDS, make_ledger_url
from fake_slack import Answer, FakeSlack, slack_error
from pydantic import SecretStr
from test_worker import MENTOR, Recording, World, make_world, utc

from trello_sync.clock import FakeClock
from trello_sync.domain.daily import decode_alerts, decode_summary, payload_problems
from trello_sync.ledger.open import open_ledger
from trello_sync.ledger.sql import SqlLedger
from trello_sync.logs import RedactSecrets
from trello_sync.metrics import WorkerMetrics
from trello_sync.nightly import LAST_EXPORT_META
from trello_sync.notify import ALERTS_META, SUMMARY_META, Notifier
from trello_sync.settings import Settings
from trello_sync.slack import SlackPoster
from trello_sync.sync import BoardOutcome
from trello_sync.trello.fake import FakeTrello
from trello_sync.trello.port import TrelloAuthError
from trello_sync.worker import Worker

START = utc(2026, 3, 27, 12)  # a Friday; the clocks spring forward on Sunday the 29th


class TimedPoster(SlackPoster):
    """The real poster, noting the (fake) time of each message."""

    def __init__(self, url: str, clock: FakeClock) -> None:
        super().__init__(url, clock)
        self.clock = clock
        self.times: list[datetime] = []

    def post(self, payload: Any) -> None:
        self.times.append(self.clock.now())
        super().post(payload)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRELLO_SYNC_CONFIG", raising=False)
    made = make_world(tmp_path, START)
    yield made
    made.ledger.close()


def slack_settings(world: World, slack: FakeSlack, **update: Any) -> Settings:
    return world.settings.model_copy(
        update={"slack_webhook_url": SecretStr(slack.url), "summary_time": "08:00", **update}
    )


def notifier(
    world: World,
    slack: FakeSlack,
    owner: str = "worker-a",
    ledger: SqlLedger | None = None,
    **update: Any,
) -> Notifier:
    settings = slack_settings(world, slack, **update)
    return Notifier(
        settings,
        ledger or world.ledger,
        world.clock,
        TimedPoster(slack.url, world.clock),
        owner=owner,
        metrics=WorkerMetrics(),
        redact=RedactSecrets(settings.secret_values()).redact,
    )


def worker(world: World, told: Notifier, syncer: Any = None) -> Worker:
    return Worker(
        told._settings,
        syncer or world.syncer,
        world.ledger,
        world.clock,
        notifier=told,
        metrics=told._metrics,
    )


def summary_days(slack: FakeSlack) -> list[str]:
    days = []
    for payload in slack.delivered:
        header = payload["blocks"][0]["text"]["text"]
        if header.startswith("Daily summary"):
            days.append(header.rsplit(" ", 1)[-1])
    return days


def alert_texts(slack: FakeSlack) -> list[str]:
    return [p["text"] for p in slack.delivered if not p["text"].startswith("Daily summary")]


def sample(told: Notifier, name: str, **labels: str) -> float:
    assert told._metrics is not None
    value = told._metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def no_export_due(world: World) -> None:
    world.ledger.set_meta(LAST_EXPORT_META, "2026-03-27")


# --- the daily summary ----------------------------------------------------------------------


def test_one_summary_a_day_at_the_local_time_and_a_missed_one_at_start(
    world: World, slack: FakeSlack
):
    told = notifier(world, slack, summary_when_quiet=True)
    # From Friday 13:00 CET to Monday 09:00 CEST: 68 hourly cycles.
    assert worker(world, told).run(max_cycles=68) == 0
    # At start, the one due at 08:00 that morning; then each morning at 08:00 local:
    # 07:00 UTC in winter, 06:00 UTC from Sunday on.
    assert summary_days(slack) == ["2026-03-26", "2026-03-27", "2026-03-28", "2026-03-29"]
    assert told._poster.times == [  # type: ignore[attr-defined]
        START,
        utc(2026, 3, 28, 7),
        utc(2026, 3, 29, 6),
        utc(2026, 3, 30, 6),
    ]
    assert all(payload_problems(p) == [] for p in slack.delivered)
    assert decode_summary(world.ledger.get_meta(SUMMARY_META)).sent == date(2026, 3, 29)
    assert sample(told, "trello_sync_slack_messages_total", kind="summary", result="ok") == 4

    # A restart (a new process: another owner) that same morning posts nothing again.
    again = notifier(world, slack, owner="worker-b", summary_when_quiet=True)
    assert worker(world, again).run_once() == 0
    assert len(slack.received) == 4


def test_a_quiet_day_posts_nothing_unless_asked_and_is_recorded(
    world: World, slack: FakeSlack, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    no_export_due(world)
    told = notifier(world, slack)
    assert worker(world, told).run(max_cycles=3) == 0
    assert slack.received == []
    assert decode_summary(world.ledger.get_meta(SUMMARY_META)).sent == date(2026, 3, 26)
    assert "nothing to say for 2026-03-26, no summary posted" in caplog.text


def test_the_summary_of_a_day_with_sessions_names_students_by_first_name(
    world: World, slack: FakeSlack
):
    no_export_due(world)
    # A session logged yesterday evening on Lea's card: the first poll records it.
    trello = FakeTrello(world.state, world.token)
    cards = trello.board_snapshot(world.settings.boards[0]).cards
    lea = next(c for c in cards if c["name"] == "Lea")
    world.state.comment(MENTOR, lea["id"], "/session 45m", at=START - timedelta(hours=20))
    told = notifier(world, slack, summary_names="first")
    assert worker(world, told).run_once() == 0
    (payload,) = slack.delivered
    assert payload_problems(payload) == []
    assert "Lea — Session — 30.00 EUR" in payload["text"]
    assert "2026-03-26: 1 entry, 30.00 EUR" in payload["text"]


def test_two_workers_racing_on_one_ledger_post_once(tmp_path: Path, slack: FakeSlack):
    for backend in BACKENDS:
        for url in make_ledger_url(backend, tmp_path / backend):
            (tmp_path / backend).mkdir(exist_ok=True)
            world = make_world(tmp_path / backend, START, database_url=url)
            other = open_ledger(url, clock=world.clock)
            try:
                race(world, other, slack)
            finally:
                other.close()
                world.ledger.close()
            slack.received.clear()


def race(world: World, other: SqlLedger, slack: FakeSlack) -> None:
    world.syncer.inner.sync_all()  # the books of two active students
    a = notifier(world, slack, "worker-a", summary_when_quiet=True, max_students=1)
    b = notifier(world, slack, "worker-b", ledger=other, summary_when_quiet=True, max_students=1)
    outcome = [BoardOutcome(world.settings.boards[0], board_id="x", moves=1)]

    def go(told: Notifier, gate: threading.Barrier) -> None:
        gate.wait()
        told.summary_job()
        told.after_cycle(outcome)  # both see the cap crossed at once

    for day in range(5):
        slack.script(Answer(delay_s=0.2))  # the winner's post takes a while: both overlap
        gate = threading.Barrier(2)
        threads = [threading.Thread(target=go, args=(told, gate)) for told in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(summary_days(slack)) == day + 1, slack.texts()
        world.clock.advance(24 * 3600)
    assert len(summary_days(slack)) == 5 and len(set(summary_days(slack))) == 5
    assert alert_texts(slack) == [
        "⚠️ 2 active students, above the recommended maximum of 1 (TRELLO_SYNC_MAX_STUDENTS)."
    ]


@pytest.mark.parametrize(
    "failure",
    [
        [Answer(500, "rollup_error")] * 4,
        [slack_error("channel_not_found")],
        [slack_error("no_service")],
        [slack_error("action_prohibited")],
        [slack_error("channel_is_archived")],
        [Answer(429, "rate_limited", {"Retry-After": "600"})],
    ],
    ids=["5xx", "channel_not_found", "no_service", "action_prohibited", "archived", "429"],
)
def test_a_summary_not_delivered_is_tried_at_each_cycle_until_it_goes(
    world: World, slack: FakeSlack, caplog: pytest.LogCaptureFixture, failure: list[Answer]
):
    no_export_due(world)
    slack.script(*failure, *failure)  # two cycles refused, the third delivers
    told = notifier(world, slack, summary_when_quiet=True)
    assert worker(world, told).run(max_cycles=4) == 0  # Slack never changes the exit code
    assert summary_days(slack) == ["2026-03-26"]
    assert len(slack.received) == 2 * len(failure) + 1
    warnings = [r for r in caplog.records if "was not posted" in r.getMessage()]
    assert len(warnings) == 2 and all(r.levelno == logging.WARNING for r in warnings)
    assert all("tried again at the next cycle" in r.getMessage() for r in warnings)
    assert slack.token not in caplog.text and "Traceback" not in caplog.text
    assert sample(told, "trello_sync_slack_messages_total", kind="summary", result="error") == 2
    assert sample(told, "trello_sync_slack_messages_total", kind="summary", result="ok") == 1


def test_a_summary_whose_answer_was_lost_is_not_posted_twice(
    world: World, slack: FakeSlack, caplog: pytest.LogCaptureFixture
):
    no_export_due(world)
    slack.script(Answer(drop=True))
    told = notifier(world, slack, summary_when_quiet=True)
    assert worker(world, told).run(max_cycles=3) == 0
    assert len(slack.received) == 1
    assert decode_summary(world.ledger.get_meta(SUMMARY_META)).sent == date(2026, 3, 26)
    assert "it is not sent again, so that it never appears twice" in caplog.text
    assert sample(told, "trello_sync_slack_errors_total", error="unknown") == 1


# --- alerts -------------------------------------------------------------------------------------


def test_a_flagged_board_is_one_alert_and_one_line_when_it_clears(world: World, slack: FakeSlack):
    no_export_due(world)
    board_id = world.settings.boards[0]
    problem = "the board suddenly shows no cards while the ledger has 2 active student(s)"

    def flagged() -> list[BoardOutcome]:
        world.ledger.flag_board(board_id, problem)
        return [BoardOutcome(board_id, board_id=board_id, name="Mentoring", problem=problem)]

    # Synced once, then three cycles flagged, then it syncs again.
    world.syncer.hooks.update({2: flagged, 3: flagged, 4: flagged})
    told = notifier(world, slack)
    assert worker(world, told).run(max_cycles=6) == 0
    assert alert_texts(slack) == [
        f"⚠️ Board Mentoring is flagged, nothing recorded: {problem}",
        "✅ Board Mentoring syncs again.",
    ]
    assert decode_alerts(world.ledger.get_meta(ALERTS_META)).outbox == ()


def test_a_board_trello_does_not_show_and_one_taken_out_of_the_settings(
    world: World, slack: FakeSlack
):
    no_export_due(world)
    refs = [*world.settings.boards, "NoSuchBd"]
    world.settings = world.settings.model_copy(update={"boards": refs})
    world.syncer.inner = type(world.syncer.inner)(
        world.settings, world.syncer.inner._trello, world.ledger, world.clock
    )
    told = notifier(world, slack)
    assert worker(world, told).run(max_cycles=2) == 2  # the board is a setting to fix
    assert alert_texts(slack) == [
        "⚠️ Board NoSuchBd cannot be read: board 'NoSuchBd' was not found, or this token "
        "cannot see it"
    ]
    # Taken out of TRELLO_SYNC_BOARDS: its alert ends.
    world.settings = world.settings.model_copy(update={"boards": refs[:1]})
    fixed = notifier(world, slack, owner="worker-b")
    fixed._settings = fixed._settings.model_copy(update={"boards": refs[:1]})
    syncer = Recording(
        type(world.syncer.inner)(
            world.settings, world.syncer.inner._trello, world.ledger, world.clock
        ),
        world.clock,
    )
    assert worker(world, fixed, syncer).run_once() == 0
    assert alert_texts(slack)[1:] == ["✅ Board NoSuchBd is no longer synced (TRELLO_SYNC_BOARDS)."]


def test_a_rejected_token_is_said_before_the_worker_stops_and_cleared_at_the_next_start(
    world: World, slack: FakeSlack
):
    no_export_due(world)

    def rejected() -> None:
        raise TrelloAuthError("Trello rejected the token (TRELLO_TOKEN): invalid token")

    world.syncer.hooks[1] = rejected
    told = notifier(world, slack)
    with pytest.raises(TrelloAuthError):
        worker(world, told).run()
    assert alert_texts(slack) == [
        "⚠️ Trello rejected the key or token: Trello rejected the token (TRELLO_TOKEN): "
        "invalid token. The worker stopped; nothing is synced until it is fixed and the "
        "worker started again."
    ]
    world.clock.advance(600)
    assert worker(world, notifier(world, slack, owner="worker-b")).run_once() == 0
    assert alert_texts(slack)[1:] == ["✅ Trello accepts the key and token again."]


def test_the_cap_crossed_and_back(world: World, slack: FakeSlack):
    no_export_due(world)
    told = notifier(world, slack, max_students=1)
    assert worker(world, told).run(max_cycles=3) == 0
    assert alert_texts(slack) == [
        "⚠️ 2 active students, above the recommended maximum of 1 (TRELLO_SYNC_MAX_STUDENTS)."
    ]
    assert worker(world, notifier(world, slack, "worker-b", max_students=5)).run_once() == 0
    assert alert_texts(slack)[1:] == ["✅ 2 active students: back within the recommended 5."]


class FailingExports(Recording):
    """The real Syncer, whose next `fail` re-reads before an export raise."""

    fail = 0

    def sync_all(self, *, force_reread: bool = False, post: bool = True) -> list[BoardOutcome]:
        if force_reread and self.fail:
            self.fail -= 1
            self.calls.append((self.clock.now(), True))
            raise RuntimeError("disk on fire")
        return super().sync_all(force_reread=force_reread, post=post)


def test_the_nightly_export_failing_twice_is_one_alert_and_a_line_when_it_works(
    world: World, slack: FakeSlack
):
    syncer = FailingExports(world.syncer.inner, world.clock)
    syncer.fail = 3  # at start, 10 and 20 minutes later; the fourth try works
    told = notifier(world, slack)
    assert worker(world, told, syncer).run(max_cycles=2) == 0
    assert len(syncer.exports) == 4
    assert alert_texts(slack) == [
        "⚠️ The nightly export failed 2 times in a row (last: the re-read before the "
        "export: RuntimeError: disk on fire); it is tried again every 10 minutes.",
        "✅ The nightly export works again (the night of 2026-03-27 is exported).",
    ]
    assert world.ledger.get_meta("export_failures") == "0"


def test_alerts_wait_for_slack_and_go_in_order_once_each(world: World, slack: FakeSlack):
    no_export_due(world)
    slack.script(*[Answer(503, "busy")] * 4)  # the first cycle: Slack down
    told = notifier(world, slack, max_students=1)
    assert worker(world, told).run(max_cycles=3) == 0
    assert alert_texts(slack) == [
        "⚠️ 2 active students, above the recommended maximum of 1 (TRELLO_SYNC_MAX_STUDENTS)."
    ]
    assert sample(told, "trello_sync_slack_messages_total", kind="alert", result="error") == 1
    assert sample(told, "trello_sync_slack_errors_total", error="unavailable") == 1


def test_the_url_is_in_no_log_line_even_under_debug(
    world: World, slack: FakeSlack, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    no_export_due(world)
    slack.script(slack_error("invalid_blocks"), slack_error("no_service"), Answer(drop=True))
    told = notifier(world, slack, summary_when_quiet=True, max_students=1)
    assert worker(world, told).run(max_cycles=2) == 0
    redact = RedactSecrets(told._settings.secret_values())
    shown = [redact.redact(r.getMessage()) for r in caplog.records]
    assert slack.token not in "\n".join(shown)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("trello_sync")]
    assert ours and slack.token not in "\n".join(ours)

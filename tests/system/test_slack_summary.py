"""Slack end to end: the real CLI in a subprocess against the sandbox over HTTP, on each
ledger backend, posting to a fake Slack endpoint (a real HTTP server in the test) that
records what it receives and answers each of Slack's errors on demand.

The summary time is midnight, so that yesterday's summary is due whatever the hour of the
run: the first start sends it (a missed summary), and no later start sends it again.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fake_slack import Answer, FakeSlack, slack_error
from sandbox_board import MENTOR, TZ, BoardEnv

from trello_sync.domain.daily import decode_alerts, payload_problems
from trello_sync.sandbox.faults import Fault


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def with_slack(board: BoardEnv, slack: FakeSlack, **more: str) -> dict[str, str]:
    return {
        "TRELLO_SYNC_SLACK_WEBHOOK_URL": slack.url,
        "TRELLO_SYNC_SUMMARY_TIME": "00:00",
        "TRELLO_SYNC_POLL_INTERVAL": "5",
        **more,
    }


def yesterday() -> str:
    return (datetime.now(TZ).date() - timedelta(days=1)).isoformat()


def students(board: BoardEnv) -> None:
    board.student("Léa Dupont", project="Learn how to learn")
    board.student("Max Martin", project="Build a Python web app")
    board.student("Noé Petit", project="Launch your own restaurant review site")
    for name in ("Léa Dupont", "Max Martin"):
        board.comment(name, "/session 45m", days_ago=1)


def summaries(slack: FakeSlack) -> list[dict]:
    return [p for p in slack.delivered if p["text"].startswith("Daily summary")]


def alerts(slack: FakeSlack) -> list[str]:
    return [p["text"] for p in slack.delivered if not p["text"].startswith("Daily summary")]


def never_shown(slack: FakeSlack, *results: subprocess.CompletedProcess[str]) -> None:
    for result in results:
        everything = result.stdout + result.stderr
        assert slack.token not in everything and slack.path not in everything
        assert "Traceback" not in everything


def run_once(board: BoardEnv, slack: FakeSlack, *args: str, **more: str):
    return board.cli(*args, "run", "--once", env=with_slack(board, slack, **more))


# --- the daily summary ----------------------------------------------------------------------


def test_one_summary_a_day_across_a_restart_and_two_workers(board: BoardEnv, slack: FakeSlack):
    students(board)
    first = run_once(board, slack, "--debug")  # urllib3's debug lines name the URL's path
    assert first.returncode == 0, first.stderr
    (summary,) = summaries(slack)
    assert payload_problems(summary) == []
    assert summary["blocks"][0]["text"]["text"].endswith(yesterday())
    text = summary["text"]
    assert f"{yesterday()}: 2 entries, 65.00 EUR" in text
    assert "Léa — Session — 30.00 EUR" in text and "Max — Session — 35.00 EUR" in text
    assert "Dupont" not in text and "Martin" not in text  # first names by default
    assert "Active students: 3 / 20" in text
    assert "slack: daily summary for" in first.stderr

    again = run_once(board, slack)  # a restart: the day is recorded in the ledger
    assert again.returncode == 0, again.stderr
    assert len(summaries(slack)) == 1

    # Two workers at once on the same ledger, the day not yet recorded: one posts.
    board.sql("DELETE FROM meta WHERE key = 'slack_summary'")
    env = {**board.env, **with_slack(board, slack)}
    both = [
        subprocess.Popen(
            [sys.executable, "-m", "trello_sync", "run", "--once"],
            env=env,
            cwd=board.folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in both]
    assert [proc.returncode for proc in both] == [0, 0], outputs
    assert len(summaries(slack)) == 2
    never_shown(
        slack,
        first,
        again,
        *[subprocess.CompletedProcess([], 0, out, err) for out, err in outputs],
    )


def test_privacy_amounts_hidden_and_full_names(board: BoardEnv, slack: FakeSlack):
    students(board)
    hidden = run_once(board, slack, TRELLO_SYNC_SUMMARY_AMOUNTS="false")
    assert hidden.returncode == 0, hidden.stderr
    (summary,) = summaries(slack)
    assert "EUR" not in json.dumps(summary) and "Léa — Session" in summary["text"]
    (board.folder / "trello-sync.toml").write_text(
        'mentors = ["camille"]\nsummary_names = "full"\n'
    )
    shown = board.cli("summary")
    assert shown.returncode == 0, shown.stderr
    assert "Léa Dupont — Session — 30.00 EUR" in shown.stdout


def test_a_quiet_day_posts_nothing_unless_asked(board: BoardEnv, slack: FakeSlack):
    board.student("Léa Dupont", project="Learn how to learn", active_days_ago=3)
    quiet = run_once(board, slack)
    assert quiet.returncode == 0, quiet.stderr
    assert summaries(slack) == [] and "nothing to say for" in quiet.stderr
    board.sql("DELETE FROM meta WHERE key = 'slack_summary'")
    asked = run_once(board, slack, TRELLO_SYNC_SUMMARY_WHEN_QUIET="true")
    assert asked.returncode == 0, asked.stderr
    assert len(summaries(slack)) == 1 and "0 entries" in summaries(slack)[0]["text"]


# --- Slack's answers --------------------------------------------------------------------------


ERRORS = [
    [slack_error("channel_not_found")],
    [slack_error("channel_is_archived")],
    [slack_error("no_service")],
    [slack_error("action_prohibited")],
    [slack_error("invalid_token")],
    [slack_error("no_text")],
    [Answer(429, "rate_limited", {"Retry-After": "3600"})],
    [Answer(403, "<html>Forbidden</html>")],
]


def test_every_error_slack_answers_is_one_line_and_the_summary_goes_once(
    board: BoardEnv, slack: FakeSlack
):
    students(board)
    runs = []
    for failure in ERRORS:
        slack.script(*failure)
        result = run_once(board, slack)
        runs.append(result)
        assert result.returncode == 0, result.stderr  # Slack never fails the worker
        said = [line for line in result.stderr.splitlines() if "was not posted" in line]
        assert len(said) == 1, result.stderr
        assert "tried again at the next cycle" in said[0]
        assert "WARNING" in said[0]
        assert summaries(slack) == []
    # A 429 that asks for a second, and a 5xx: waited for within the same run.
    slack.script(Answer(429, "rate_limited", {"Retry-After": "1"}), Answer(502, "x"))
    delivered = run_once(board, slack)
    assert delivered.returncode == 0, delivered.stderr
    assert len(summaries(slack)) == 1
    later = run_once(board, slack)
    assert len(summaries(slack)) == 1  # delivered: never again
    never_shown(slack, *runs, delivered, later)


def test_refused_blocks_still_deliver_the_text(board: BoardEnv, slack: FakeSlack):
    students(board)
    slack.script(slack_error("invalid_blocks"))
    result = run_once(board, slack)
    assert result.returncode == 0, result.stderr
    (summary,) = summaries(slack)
    assert "blocks" not in summary and "Léa — Session" in summary["text"]


def test_a_lost_answer_is_not_posted_twice(board: BoardEnv, slack: FakeSlack):
    students(board)
    slack.script(Answer(drop=True))
    lost = run_once(board, slack, "--debug")
    assert lost.returncode == 0, lost.stderr
    assert "it is not sent again, so that it never appears twice" in lost.stderr
    after = run_once(board, slack)
    assert after.returncode == 0 and len(slack.received) == 1
    never_shown(slack, lost, after)


def test_json_logs_name_the_error_not_the_url(board: BoardEnv, slack: FakeSlack):
    students(board)
    slack.script(slack_error("channel_not_found"))
    result = board.cli("run", "--once", "--log-format", "json", env=with_slack(board, slack))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    (failed,) = [line for line in lines if line.get("event") == "slack"]
    assert (failed["kind"], failed["result"], failed["error"]) == (
        "summary",
        "error",
        "channel_not_found",
    )
    never_shown(slack, result)


# --- alerts ---------------------------------------------------------------------------------------


def test_alerts_once_per_occurrence_and_a_line_when_they_clear(board: BoardEnv, slack: FakeSlack):
    students(board)
    assert run_once(board, slack).returncode == 0
    assert alerts(slack) == []

    # The board suddenly shows nothing: flagged, one alert, however many cycles it lasts.
    # A new comment makes the poll read the lists and cards (an idle poll reads neither).
    board.state.comment(MENTOR, board.cards["Léa Dupont"], "/session 1h")
    board.server.faults.add(Fault(kind="empty", times=1000, path_contains=board.board_id))
    for _ in range(2):
        emptied = run_once(board, slack)
        assert emptied.returncode == 1, emptied.stderr
    (flagged,) = alerts(slack)
    assert flagged.startswith("⚠️ Board Mentoring is flagged, nothing recorded: the board ")
    board.server.faults.clear()
    back = run_once(board, slack)
    assert back.returncode == 0, back.stderr
    assert alerts(slack)[1:] == ["✅ Board Mentoring syncs again."]

    # Above the cap, then back.
    over = run_once(board, slack, TRELLO_SYNC_MAX_STUDENTS="2")
    assert over.returncode == 0, over.stderr
    assert run_once(board, slack, TRELLO_SYNC_MAX_STUDENTS="2").returncode == 0
    assert alerts(slack)[2:] == [
        "⚠️ 3 active students, above the recommended maximum of 2 (TRELLO_SYNC_MAX_STUDENTS)."
    ]
    assert run_once(board, slack).returncode == 0
    assert alerts(slack)[3:] == ["✅ 3 active students: back within the recommended 20."]

    # The token rejected: said before the worker stops, and cleared at the next start.
    bad = run_once(board, slack, TRELLO_TOKEN="not-a-real-token-123456")
    assert bad.returncode == 2, bad.stderr
    assert alerts(slack)[4].startswith("⚠️ Trello rejected the key or token: ")
    assert "not-a-real-token-123456" not in json.dumps(slack.delivered)
    assert run_once(board, slack).returncode == 0
    assert alerts(slack)[5:] == ["✅ Trello accepts the key and token again."]
    assert len(alerts(slack)) == 6
    state = decode_alerts(board.sql("SELECT value FROM meta WHERE key = 'slack_alerts'")[0][0])
    assert state.active == {} and state.outbox == ()


def test_an_alert_waits_for_slack_and_goes_once(board: BoardEnv, slack: FakeSlack):
    students(board)
    slack.script(slack_error("channel_not_found"), slack_error("channel_not_found"))
    down = run_once(board, slack, TRELLO_SYNC_MAX_STUDENTS="2")
    assert down.returncode == 0, down.stderr
    assert "slack: an alert was not posted" in down.stderr
    assert alerts(slack) == []
    up = run_once(board, slack, TRELLO_SYNC_MAX_STUDENTS="2")
    assert up.returncode == 0, up.stderr
    assert alerts(slack) == [
        "⚠️ 3 active students, above the recommended maximum of 2 (TRELLO_SYNC_MAX_STUDENTS)."
    ]
    assert len(summaries(slack)) == 1


# --- the commands ---------------------------------------------------------------------------------


def test_the_summary_command_prints_and_posts_on_demand(board: BoardEnv, slack: FakeSlack):
    students(board)
    assert board.cli("sync").returncode == 0
    printed = board.cli("summary")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("Daily summary — ")
    assert f"{yesterday()}: 2 entries, 65.00 EUR" in printed.stdout
    earlier = (datetime.now(TZ).date() - timedelta(days=5)).isoformat()
    other_day = board.cli("summary", "--date", earlier)
    assert other_day.returncode == 0 and f"{earlier}: 0 entries" in other_day.stdout
    assert "(nothing to say: the worker posts no summary for such a day" in other_day.stdout

    env = {"TRELLO_SYNC_SLACK_WEBHOOK_URL": slack.url}
    posted = board.cli("summary", "--slack", env=env)
    assert posted.returncode == 0, posted.stderr
    assert "posted to Slack (http://127.0.0.1:" in posted.stdout
    (summary,) = summaries(slack)
    assert payload_problems(summary) == []
    # It records nothing: the worker still posts the day's own summary.
    assert run_once(board, slack).returncode == 0
    assert len(summaries(slack)) == 2

    slack.script(slack_error("channel_not_found"))
    refused = board.cli("summary", "--slack", env=env)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line == (
        "trello-sync: error: TRELLO_SYNC_SLACK_WEBHOOK_URL: Slack refused the message: "
        "channel_not_found (the webhook's channel no longer exists: make a new webhook)"
    )
    slack.script(*[Answer(503, "x")] * 4)
    unavailable = board.cli("summary", "--slack", env=env)
    assert unavailable.returncode == 1, unavailable.stderr

    nowhere = board.cli("summary", "--slack")
    assert nowhere.returncode == 2
    assert "TRELLO_SYNC_SLACK_WEBHOOK_URL is not set" in nowhere.stderr
    bad_date = board.cli("summary", "--date", "2026-02-30")
    assert bad_date.returncode == 2 and "--date must be a day as YYYY-MM-DD" in bad_date.stderr
    never_shown(slack, printed, posted, refused, unavailable, nowhere)


def test_check_says_whether_the_url_is_set_and_well_formed_and_sends_nothing(
    board: BoardEnv, slack: FakeSlack
):
    unset = board.cli("check")
    assert "slack: TRELLO_SYNC_SLACK_WEBHOOK_URL is not set: nothing is posted to Slack" in (
        unset.stdout
    )
    ok = board.cli("check", env={"TRELLO_SYNC_SLACK_WEBHOOK_URL": slack.url})
    host = slack.url.split("/services/")[0]
    assert (
        f"slack: TRELLO_SYNC_SLACK_WEBHOOK_URL is set and well formed ({host}/…); "
        "check posts nothing"
    ) in ok.stdout
    assert slack.received == []

    # From the secrets folder too, like the key and the token.
    secrets = board.folder / "secrets"
    secrets.mkdir()
    (secrets / "TRELLO_SYNC_SLACK_WEBHOOK_URL").write_text(slack.url + "\n")
    folder = board.cli("check", env={"TRELLO_SYNC_SECRETS_DIR": str(secrets)})
    assert "is set and well formed" in folder.stdout

    malformed = board.cli(
        "check", env={"TRELLO_SYNC_SLACK_WEBHOOK_URL": f"hooks.example/{slack.token}"}
    )
    assert malformed.returncode == 2
    (line,) = malformed.stderr.strip().splitlines()
    assert line == (
        "trello-sync: error: TRELLO_SYNC_SLACK_WEBHOOK_URL: the webhook URL must start "
        "with https:// (or http://)"
    )
    (board.folder / "trello-sync.toml").write_text(f'slack_webhook_url = "{slack.url}"\n')
    in_toml = board.cli("check")
    assert in_toml.returncode == 2 and "is a credential" in in_toml.stderr
    never_shown(slack, unset, ok, folder, malformed, in_toml)

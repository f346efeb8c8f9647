"""The Slack poster (trello_sync/slack.py) against a real local HTTP server that answers
what each test scripts: Slack's success, its rate limit, its 5xx and each of its
plain-text errors, a dropped connection, a time-out. Waits go through a FakeClock, so
the back-off and Retry-After schedules are asserted without waiting."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_slack import Answer, FakeSlack, slack_error

from trello_sync.clock import FakeClock
from trello_sync.slack import SlackError, SlackPoster, SlackRetry

PAYLOAD = {
    "text": "Daily summary",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def poster(url: str, clock: FakeClock, **kwargs: object) -> SlackPoster:
    return SlackPoster(url, clock, **kwargs)  # type: ignore[arg-type]


def refused(slack: FakeSlack, clock: FakeClock, *answers: Answer) -> SlackError:
    slack.script(*answers)
    with pytest.raises(SlackError) as caught:
        poster(slack.url, clock).post(PAYLOAD)
    return caught.value


def test_a_message_is_posted_as_json(slack: FakeSlack, clock: FakeClock):
    poster(slack.url, clock).post(PAYLOAD)
    (request,) = slack.received
    assert request.payload == PAYLOAD
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert clock.sleeps == []


def test_a_429_is_waited_for_as_long_as_retry_after_says(slack: FakeSlack, clock: FakeClock):
    slack.script(Answer(429, "rate_limited", {"Retry-After": "3"}))
    poster(slack.url, clock).post(PAYLOAD)
    assert clock.sleeps == [3.0]
    assert len(slack.received) == 2 and slack.delivered == [PAYLOAD]


def test_a_retry_after_longer_than_the_bound_is_given_up_at_once(
    slack: FakeSlack, clock: FakeClock
):
    error = refused(slack, clock, Answer(429, "rate_limited", {"Retry-After": "120"}))
    assert error.kind == "rate_limited" and not error.unknown and not error.setting
    assert str(error) == ("Slack's rate limit asks to wait 120 s, more than 30: tried again later")
    assert clock.sleeps == [] and len(slack.received) == 1


def test_repeated_429s_stop_within_the_wait_budget(slack: FakeSlack, clock: FakeClock):
    limited = Answer(429, "rate_limited", {"Retry-After": "20"})
    error = refused(slack, clock, limited, limited, limited)
    assert error.kind == "rate_limited"
    # 20 + 20 s fit the 45 s budget; a third wait would not: given up, for the next cycle.
    assert clock.sleeps == [20.0, 20.0] and len(slack.received) == 3
    assert sum(clock.sleeps) <= SlackRetry().max_total_wait_s


def test_5xx_are_tried_again_with_a_doubling_back_off(slack: FakeSlack, clock: FakeClock):
    slack.script(Answer(500, "rollup_error"), Answer(503, "busy"))
    poster(slack.url, clock).post(PAYLOAD)
    assert clock.sleeps == [1.0, 2.0] and slack.delivered == [PAYLOAD]


def test_5xx_that_last_are_one_error_after_a_few_tries(slack: FakeSlack, clock: FakeClock):
    error = refused(slack, clock, *[Answer(502, "bad gateway")] * 5)
    assert error.kind == "unavailable"
    assert str(error) == (
        "Slack unavailable (HTTP 502): not delivered after 4 tries, tried again later"
    )
    assert clock.sleeps == [1.0, 2.0, 4.0] and len(slack.received) == 4


@pytest.mark.parametrize(
    ("code", "setting", "says"),
    [
        ("invalid_payload", False, "Slack could not read the message"),
        ("no_text", False, "the message had no text"),
        ("too_many_attachments", False, "too many attachments"),
        ("channel_not_found", True, "the webhook's channel no longer exists"),
        ("channel_is_archived", True, "the webhook's channel is archived"),
        ("no_service", True, "the webhook was removed or disabled"),
        ("no_service_id", True, "the webhook was removed or disabled"),
        ("no_team", True, "the webhook's workspace is gone"),
        ("team_disabled", True, "the webhook's workspace is disabled"),
        ("invalid_token", True, "the webhook's token is not valid"),
        ("action_prohibited", True, "a workspace admin restricts posting"),
        ("posting_to_general_channel_denied", True, "only admins may post"),
        ("user_not_found", True, "the webhook's user is gone"),
    ],
)
def test_each_of_slacks_errors_is_one_clear_line(
    slack: FakeSlack, clock: FakeClock, code: str, setting: bool, says: str
):
    payload = {"text": "plain only"}  # no blocks: nothing to fall back to
    slack.script(slack_error(code))
    with pytest.raises(SlackError) as caught:
        poster(slack.url, clock).post(payload)
    error = caught.value
    assert (error.kind, error.setting, error.unknown) == (code, setting, False)
    line = str(error)
    assert "\n" not in line and code in line and says in line
    assert line.startswith("TRELLO_SYNC_SLACK_WEBHOOK_URL: ") == setting
    assert slack.token not in line and "127.0.0.1" not in line
    assert len(slack.received) == 1 and clock.sleeps == []  # refused as it is: not again


@pytest.mark.parametrize("code", ["invalid_blocks", "invalid_payload"])
def test_refused_blocks_are_sent_once_more_as_the_text_alone(
    slack: FakeSlack, clock: FakeClock, code: str
):
    slack.script(slack_error(code))
    poster(slack.url, clock).post(PAYLOAD)
    first, second = slack.received
    assert "blocks" in first.payload and second.payload == {"text": "Daily summary"}
    error = refused(slack, clock, slack_error(code), slack_error(code))
    assert error.kind == code


def test_an_answer_that_is_no_slack_code_says_the_status(slack: FakeSlack, clock: FakeClock):
    error = refused(slack, clock, Answer(403, "<html><body>Forbidden</body></html>"))
    assert (error.kind, error.setting) == ("other", True)
    assert str(error) == (
        "TRELLO_SYNC_SLACK_WEBHOOK_URL: the webhook refused the message: HTTP 403"
    )
    teapot = refused(slack, clock, Answer(418, "short and stout"))
    assert (teapot.kind, teapot.setting) == ("other", False)


def test_a_redirect_is_not_followed(slack: FakeSlack, clock: FakeClock):
    error = refused(slack, clock, Answer(302, "", {"Location": "http://127.0.0.1:9/elsewhere"}))
    assert (error.kind, error.setting) == ("redirect", True)
    assert len(slack.received) == 1


def test_a_dropped_answer_is_never_sent_again(slack: FakeSlack, clock: FakeClock):
    error = refused(slack, clock, Answer(drop=True))
    assert error.unknown and error.kind == "unknown"
    assert "may have been posted, so it is not sent again" in str(error)
    assert len(slack.received) == 1


def test_a_time_out_after_sending_is_never_sent_again(slack: FakeSlack, clock: FakeClock):
    slack.script(Answer(delay_s=1.0))
    with pytest.raises(SlackError) as caught:
        poster(slack.url, clock, timeout=(2.0, 0.2)).post(PAYLOAD)
    assert caught.value.unknown and "read time-out" in str(caught.value)
    assert len(slack.received) == 1


def test_a_webhook_that_cannot_be_reached_is_tried_a_few_times(clock: FakeClock):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T0/B0/secretsecret"
    with pytest.raises(SlackError) as caught:
        poster(url, clock).post(PAYLOAD)
    error = caught.value
    assert (error.kind, error.unknown) == ("network", False)
    assert (
        str(error) == "Slack could not be reached: not delivered after 4 tries, tried again later"
    )
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_a_stop_ends_the_waiting(slack: FakeSlack, clock: FakeClock):
    slack.script(Answer(500, "x"), Answer(500, "x"))
    with pytest.raises(SlackError, match="stopping before another try"):
        poster(slack.url, clock, stopping=lambda: True).post(PAYLOAD)
    assert clock.sleeps == [1.0]


def test_the_url_is_in_no_error_and_no_log_line(
    slack: FakeSlack, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    answers = [
        Answer(429, "rate_limited", {"Retry-After": "1"}),
        Answer(500, "x"),
        slack_error("invalid_blocks"),
        slack_error("channel_not_found"),
    ]
    slack.script(*answers)
    with pytest.raises(SlackError) as caught:
        poster(slack.url, clock).post(PAYLOAD)
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("trello_sync")]
    assert ours and all(slack.token not in line for line in [*ours, str(caught.value)])


def test_no_password_from_netrc_is_sent(
    slack: FakeSlack, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter22\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    poster(slack.url, clock).post(PAYLOAD)
    assert "Authorization" not in slack.received[0].headers

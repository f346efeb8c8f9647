"""The daily summary and the alerts as data (trello_sync/domain/daily.py): what a day's
summary holds, its Block Kit message within Slack's documented limits whatever the
ledger holds, the alerts raised once per occurrence with a line when they clear, and
the claims that make each message go once with several workers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trello_sync.domain.daily import (
    BLOCKS_MAX,
    FALLBACK_MAX,
    HEADER_MAX,
    SECTION_MAX,
    AlertState,
    BoardProblem,
    DailyRules,
    Outgoing,
    SummaryClaim,
    SummaryState,
    active_students,
    alert_payload,
    board_gone,
    board_observation,
    build_daily,
    cap_observation,
    claim_next,
    decode_alerts,
    decode_summary,
    encode_alerts,
    encode_summary,
    export_observation,
    finish,
    observe,
    payload_problems,
    release,
    shown_name,
    stale_board_keys,
    summary_done,
    summary_payload,
    summary_released,
    summary_step,
    summary_text,
    token_observation,
    webhook_problem,
    webhook_secrets,
    webhook_shown,
)
from trello_sync.domain.records import CardRecord, Entry, StageMove
from trello_sync.domain.rules import Status
from trello_sync.domain.stages import Stage

PARIS = ZoneInfo("Europe/Paris")
DAY = date(2026, 3, 30)  # a Monday
RULES = DailyRules(tz=PARIS, cap=3, pause_days=14, idle_days=14, amounts=True, full_names=False)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS).astimezone(UTC)


def entry(
    entry_id: str,
    card: str,
    day: date,
    amount: int = 3500,
    *,
    status: Status = Status.DONE,
    level: int = 2,
    reverses: str | None = None,
    recorded: datetime | None = None,
    currency: str = "EUR",
) -> Entry:
    return Entry(
        entry_id=entry_id,
        recorded_at=recorded or at(day, 19),
        board_id="b1",
        card_id=card,
        student=card,
        project=None,
        level=level,
        status=status,
        session_date=day,
        duration_minutes=None,
        note="",
        rate_cents=amount,
        share_percent=100,
        amount_cents=amount,
        currency=currency,
        mentor="camille",
        source_action_id=f"a-{entry_id}",
        reverses_entry_id=reverses,
    )


def card(card_id: str, name: str) -> CardRecord:
    return CardRecord("b1", card_id, name, None, 2, f"create-{card_id}")


def move(card_id: str, stage: Stage, when: datetime, n: int = 0) -> StageMove:
    return StageMove("b1", card_id, f"m-{card_id}-{n}", when, stage, None, None)


CARDS = [
    card("lea", "Léa Dupont"),
    card("max", "Max Power — Python"),
    card("noe", "Noé"),
    card("zoe", "Zoé Martin"),
]
MOVES = [
    move("lea", Stage.ACTIVE, at(DAY - timedelta(days=40))),
    move("max", Stage.ACTIVE, at(DAY - timedelta(days=40))),
    move("noe", Stage.ACTIVE, at(DAY - timedelta(days=40))),
    move("noe", Stage.PAUSED, at(DAY - timedelta(days=20)), 1),  # paused past 14 days
    move("zoe", Stage.ACTIVE, at(DAY - timedelta(days=30))),  # no session since: idle
]


def daily_of(entries: list[Entry], rules: DailyRules = RULES, boards=(), moves=MOVES):
    return build_daily(DAY, CARDS, moves, entries, list(boards), rules, "EUR")


# --- what a day's summary holds -------------------------------------------------------------


def test_the_day_the_month_so_far_and_what_needs_a_look():
    entries = [
        entry("e1", "lea", DAY, 3000, level=1),
        entry("e2", "max", DAY, 1750, status=Status.NOSHOW),
        entry("e3", "max", DAY, 3500),
        entry("e4", "max", DAY, -3500, reverses="e3"),  # undone: shown nowhere
        entry("e5", "lea", DAY - timedelta(days=3), 3000, level=1),
        entry("e6", "lea", DAY - timedelta(days=40), 3000, level=1),  # February
        entry("e7", "lea", DAY + timedelta(days=1), 3000, level=1),  # after the day
        entry("e8", "lea", DAY - timedelta(days=1), 3000, recorded=at(DAY - timedelta(days=1))),
    ]
    daily = daily_of(entries)
    assert [(line.name, line.status, line.amount.cents) for line in daily.lines] == [
        ("Léa", "done", 3000),
        ("Max", "noshow", 1750),
    ]
    assert daily.day_total.cents == {"EUR": 4750}  # the month summary's sums, net
    assert daily.month == "2026-03"
    assert daily.month_total.sessions == 3 and daily.month_total.cents == {"EUR": 10750}
    assert [(level, t.sessions, t.cents["EUR"]) for level, t in daily.per_level] == [
        (1, 2, 6000),
        (2, 1, 4750),
    ]
    assert daily.active == 3 and daily.cap == 3
    assert [(p.name, p.days) for p in daily.paused] == [("Noé", 20)]
    assert [(i.name, i.since, i.days) for i in daily.idle] == [
        ("Zoé", DAY - timedelta(days=30), 30)
    ]
    assert not daily.quiet

    text = summary_text(daily)
    assert text.splitlines()[0] == "Daily summary — Monday 2026-03-30"
    assert "2026-03-30: 2 entries, 47.50 EUR" in text
    assert "• Léa — Session — 30.00 EUR" in text and "• Max — No-show — 17.50 EUR" in text
    assert "March 2026 so far: 3 sessions, 107.50 EUR" in text
    assert "• Level 1: 2 sessions, 60.00 EUR" in text
    assert "Active students: 3 / 3" in text and "above" not in text
    assert "• Noé — paused since 2026-03-10 (20 days)" in text
    assert "• Zoé — last seen 2026-02-28 (30 days)" in text


def test_the_stages_are_as_they_stood_at_the_end_of_the_day():
    later = [*MOVES, move("lea", Stage.PAUSED, at(DAY + timedelta(days=1)), 9)]
    assert daily_of([], moves=later).active == 3  # the move of the next day does not count
    tomorrow = build_daily(DAY + timedelta(days=1), CARDS, later, [], [], RULES, "EUR")
    assert tomorrow.active == 2
    assert active_students(later) == 2


def test_a_session_keeps_an_active_student_off_the_idle_list():
    recent = [entry("e1", "zoe", DAY - timedelta(days=5))]
    assert [i.name for i in daily_of(recent).idle] == ["Léa", "Max"]  # 40 days without


def test_privacy_first_names_by_default_full_names_and_no_amounts_on_demand():
    entries = [entry("e1", "lea", DAY, 3000), entry("e2", "max", DAY, 3500)]
    private = daily_of(entries, replace(RULES, amounts=False))
    text = summary_text(private)
    assert "EUR" not in text and "30.00" not in text and "Dupont" not in text
    assert "• Léa — Session" in text
    payload = summary_payload(private)
    assert "EUR" not in str(payload) and "Dupont" not in str(payload)
    full = summary_text(daily_of(entries, replace(RULES, full_names=True)))
    assert "Léa Dupont — Session" in full and "Max Power — Python — Session" in full


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Léa Dupont", "Léa"),
        ("  Jean-Marc  O'Neil ", "Jean-Marc"),
        ("Dupont, Léa", "Dupont"),
        ("", "(no name)"),
        ("   ", "(no name)"),
        ("—", "—"),
    ],
)
def test_first_names(name: str, first: str):
    assert shown_name(name, False) == first


def test_a_quiet_day_and_what_is_not_quiet():
    calm = [move("lea", Stage.ACTIVE, at(DAY - timedelta(days=2)))]
    assert build_daily(DAY, CARDS, calm, [], [], RULES, "EUR").quiet
    assert not daily_of([], boards=[BoardProblem("Mentoring", "shows no cards")]).quiet
    crowded = [move(c, Stage.ACTIVE, at(DAY - timedelta(days=2))) for c in "abcd"]
    over = build_daily(DAY, CARDS, crowded, [], [], RULES, "EUR")
    assert not over.quiet and "4 / 3 — above the recommended maximum" in summary_text(over)


def test_two_currencies_are_never_added():
    entries = [entry("e1", "lea", DAY, 3000), entry("e2", "max", DAY, 4000, currency="USD")]
    text = summary_text(daily_of(entries))
    assert "2 entries, 30.00 EUR + 40.00 USD" in text


# --- the message: Slack's limits, and outside text made harmless ------------------------------


def test_the_message_is_block_kit_within_the_limits_with_a_fallback():
    payload = summary_payload(daily_of([entry("e1", "lea", DAY)]))
    assert payload_problems(payload) == []
    assert payload["blocks"][0]["type"] == "header"
    assert all(b["type"] in ("header", "section") for b in payload["blocks"])
    assert payload["text"].startswith("Daily summary — Monday 2026-03-30")


def test_a_card_name_mentions_no_one_and_makes_no_link():
    hostile = [card("lea", "<!channel> & <https://evil.example|click> *bold* @here")]
    name = build_daily(
        DAY, hostile, MOVES, [entry("e1", "lea", DAY)], [], replace(RULES, full_names=True), "EUR"
    )
    payload = summary_payload(name)
    texts = [payload["text"]] + [b["text"]["text"] for b in payload["blocks"]]
    for text in texts:
        assert "<" not in text and ">" not in text  # no mention, no link, no markup
        assert "://" not in text and "@here" not in text and "*bold*" not in text
        assert "&amp;" in text or "&" not in text.replace("&amp;", "").replace("&lt;", "")


def test_many_students_and_long_texts_stay_within_every_limit():
    names = [card(f"c{n}", f"Student{n} " + "x" * 500) for n in range(300)]
    moves = [move(f"c{n}", Stage.ACTIVE, at(DAY - timedelta(days=60))) for n in range(300)]
    moves += [move(f"c{n}", Stage.PAUSED, at(DAY - timedelta(days=30)), 1) for n in range(150)]
    entries = [entry(f"e{n}", f"c{n}", DAY) for n in range(300)]
    boards = [BoardProblem("B" * 500, "p" * 5000) for _ in range(100)]
    rules = replace(RULES, full_names=True)
    daily = build_daily(DAY, names, moves, entries, boards, rules, "EUR")
    payload = summary_payload(daily)
    assert payload_problems(payload) == []
    assert len(payload["blocks"]) <= BLOCKS_MAX
    assert len(payload["text"]) <= FALLBACK_MAX
    assert "… and 276 more entries" in str(payload)


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.text(max_size=400), max_size=80),
    problems=st.lists(st.text(max_size=1000), max_size=40),
    amounts=st.booleans(),
)
def test_whatever_the_board_holds_the_message_is_within_the_limits(names, problems, amounts):
    cards = [card(f"c{n}", name) for n, name in enumerate(names)]
    moves = [move(f"c{n}", Stage.PAUSED, at(DAY - timedelta(days=40))) for n in range(len(names))]
    entries = [entry(f"e{n}", f"c{n}", DAY) for n in range(len(names))]
    boards = [BoardProblem(p[:50], p) for p in problems]
    rules = replace(RULES, amounts=amounts, full_names=True)
    payload = summary_payload(build_daily(DAY, cards, moves, entries, boards, rules, "EUR"))
    assert payload_problems(payload) == []
    for block in payload["blocks"]:
        assert "<" not in block["text"]["text"]


def test_payload_problems_finds_each_broken_limit():
    too_many = {"text": "t", "blocks": [{"type": "divider"}] * 51}
    assert any("51 blocks" in p for p in payload_problems(too_many))
    long_section = {
        "text": "t",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
    }
    assert payload_problems(long_section) == ["block 0: 3001 characters, more than 3000"]
    long_header = {
        "text": "t",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
    }
    assert payload_problems(long_header) == [f"block 0: 151 characters, more than {HEADER_MAX}"]
    assert payload_problems({"blocks": []}) == [
        "no top-level text (the fallback Slack requires with blocks)"
    ]
    assert payload_problems({"text": "x" * (FALLBACK_MAX + 1)}) == [
        "top-level text of 4001 characters"
    ]


def test_an_alert_is_one_section_and_its_fallback():
    payload = alert_payload("⚠️ Board <x> & y " + "z" * 5000)
    assert payload_problems(payload) == []
    assert payload["text"].startswith("⚠️ Board &lt;x&gt; &amp; y")
    assert len(payload["blocks"]) == 1 and len(payload["blocks"][0]["text"]["text"]) <= SECTION_MAX


# --- alerts: once per occurrence, a line when they clear -----------------------------------------


def texts(state: AlertState) -> list[str]:
    return [m.text for m in state.outbox]


def test_an_alert_is_raised_once_while_it_lasts_and_clears_with_one_line():
    flagged = board_observation("b1", "Mentoring", "the board suddenly shows no cards", None)
    fine = board_observation("b1", "Mentoring", None, None)
    state = observe(AlertState(), [flagged])
    assert texts(state) == [
        "⚠️ Board Mentoring is flagged, nothing recorded: the board suddenly shows no cards"
    ]
    assert observe(state, [flagged]) == state  # every cycle while it lasts: nothing new
    cleared = observe(state, [fine])
    assert texts(cleared)[1:] == ["✅ Board Mentoring syncs again."]
    assert cleared.active == {}
    assert observe(cleared, [fine]) == cleared
    again = observe(cleared, [flagged])  # a new occurrence: a new alert
    assert len(again.outbox) == 3 and again.seq == 3


def test_what_is_not_observed_is_left_as_it_is():
    state = observe(AlertState(), [cap_observation(5, 3, "TRELLO_SYNC_MAX_STUDENTS")])
    assert observe(state, [token_observation(None)]) == state
    assert state.active.keys() == {"cap"}
    assert texts(state) == [
        "⚠️ 5 active students, above the recommended maximum of 3 (TRELLO_SYNC_MAX_STUDENTS)."
    ]
    back = observe(state, [cap_observation(3, 3, "TRELLO_SYNC_MAX_STUDENTS")])
    assert texts(back)[-1] == "✅ 3 active students: back within the recommended 3."


def test_the_alert_lines():
    assert token_observation("Trello rejected the token (TRELLO_TOKEN): invalid token").raised
    assert token_observation(None).cleared == "✅ Trello accepts the key and token again."
    assert export_observation(1, "disk full", None).raised is None  # once is not twice
    two = export_observation(2, "disk full", None)
    assert two.raised is not None and "failed 2 times in a row (last: disk full)" in two.raised
    assert export_observation(0, None, DAY).cleared == (
        "✅ The nightly export works again (the night of 2026-03-30 is exported)."
    )
    unknown = board_observation("NoSuchBd", "", None, "board 'NoSuchBd' was not found")
    assert unknown.raised == "⚠️ Board NoSuchBd cannot be read: board 'NoSuchBd' was not found"
    state = observe(AlertState(), [unknown])
    assert stale_board_keys(state, ["b1"]) == ["NoSuchBd"]
    gone = observe(state, [board_gone("NoSuchBd", "TRELLO_SYNC_BOARDS")])
    assert texts(gone)[-1] == "✅ Board NoSuchBd is no longer synced (TRELLO_SYNC_BOARDS)."


def test_the_outbox_keeps_the_latest_lines_while_slack_is_away():
    state = AlertState()
    for n in range(80):
        state = observe(state, [cap_observation(5 if n % 2 == 0 else 1, 3, "X")])
    assert len(state.outbox) == 50 and state.outbox[-1].id == 80


NOW = datetime(2026, 3, 30, 6, tzinfo=UTC)
LATER = NOW + timedelta(minutes=10)


def test_claims_post_each_line_once_in_order():
    state = AlertState(outbox=(Outgoing(1, "one"), Outgoing(2, "two")), seq=2)
    a = claim_next(state, "A", NOW, LATER)
    assert a.message == Outgoing(1, "one", "A", LATER) and a.abandoned == ()
    # Another worker waits while A's claim on the first line lasts.
    assert claim_next(a.state, "B", NOW, LATER).state == a.state
    assert claim_next(a.state, "B", NOW, LATER).message is None
    done = finish(a.state, 1)
    b = claim_next(done, "B", NOW, LATER)
    assert b.message is not None and b.message.text == "two"
    # A failed post gives the line back for the next try.
    assert release(b.state, 2).outbox == (Outgoing(2, "two"),)


def test_a_claim_that_ran_out_is_never_posted_again():
    a = claim_next(AlertState(outbox=(Outgoing(1, "one"), Outgoing(2, "two"))), "A", NOW, LATER)
    b = claim_next(a.state, "B", LATER, LATER + timedelta(minutes=10))
    assert b.abandoned == (Outgoing(1, "one", "A", LATER),)
    assert b.message is not None and b.message.text == "two"


def test_a_workers_own_claim_is_finished_when_it_posted_and_taken_again_when_not():
    a = claim_next(AlertState(outbox=(Outgoing(1, "one"),)), "A", NOW, LATER)
    again = claim_next(a.state, "A", NOW, LATER + timedelta(minutes=1))
    assert again.message is not None and again.message.id == 1  # its failed try: again
    posted = claim_next(a.state, "A", NOW, LATER, frozenset({1}))
    assert posted.message is None and posted.state.outbox == ()


def test_the_alert_record_reads_back_and_garbage_reads_as_none():
    state = observe(AlertState(), [cap_observation(5, 3, "X"), token_observation("bad")])
    state = claim_next(state, "A", NOW, LATER).state
    assert decode_alerts(encode_alerts(state)) == state
    for garbage in (None, "", "{", "[]", '{"active": 3}', '{"outbox": [{"id": "x"}]}'):
        assert decode_alerts(garbage) == AlertState()


# --- the daily summary's record ---------------------------------------------------------------


def test_the_summary_is_claimed_posted_once_and_recorded():
    step = summary_step(SummaryState(), DAY, "A", NOW, LATER)
    assert step.post and step.state == SummaryState(None, SummaryClaim(DAY, "A", LATER))
    # Another worker at the same time: A's claim holds.
    other = summary_step(step.state, DAY, "B", NOW, LATER)
    assert not other.post and other.state == step.state
    done = summary_done(step.state, DAY, "A")
    assert done == SummaryState(DAY, None)
    assert not summary_step(done, DAY, "B", NOW, LATER).post  # once a day
    assert summary_step(done, DAY + timedelta(days=1), "B", NOW, LATER).post  # the next one
    assert summary_released(step.state, "A") == SummaryState()  # not delivered: next cycle
    assert summary_released(step.state, "B") == step.state  # only one's own claim


def test_a_summary_claim_that_ran_out_counts_as_posted():
    claimed = SummaryState(date(2026, 3, 28), SummaryClaim(DAY, "A", LATER))
    late = summary_step(claimed, DAY, "B", LATER, LATER + timedelta(minutes=10))
    assert not late.post and late.abandoned == DAY and late.state == SummaryState(DAY, None)
    # A claim on an older day that ran out does not hold back today's.
    old = SummaryState(None, SummaryClaim(DAY - timedelta(days=1), "A", NOW))
    fresh = summary_step(old, DAY, "B", LATER, LATER)
    assert fresh.post and fresh.abandoned == DAY - timedelta(days=1)
    assert fresh.state.sent == DAY - timedelta(days=1)


def test_the_summary_record_reads_back_and_garbage_reads_as_none():
    state = SummaryState(DAY, SummaryClaim(DAY + timedelta(days=1), "A", LATER))
    assert decode_summary(encode_summary(state)) == state
    for garbage in (None, "", "nope", "[1]", '{"sent": "yesterday"}', '{"claim": {"day": 1}}'):
        assert decode_summary(garbage) == SummaryState()


# --- the webhook's URL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T0/B0/abcdefgh",
        "http://127.0.0.1:8065/hooks/xyz",
        "https://chat.example.org/hooks/abc/def",
    ],
)
def test_any_http_url_is_a_webhook(url: str):
    assert webhook_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("hooks.slack.com/services/x", "must start with https:// (or http://)"),
        ("ftp://hooks.slack.com/x", "must start with https:// (or http://)"),
        ("https:///services/x", "has no host"),
        ("https://hooks.slack.com:port/x", "has a port that is not a number"),
        (" https://hooks.slack.com/x", "holds white space; paste the webhook URL alone"),
        ("https://hooks.slack.com/a b", "holds white space; paste the webhook URL alone"),
    ],
)
def test_a_url_that_is_no_webhook_is_said_without_quoting_it(url: str, problem: str):
    assert webhook_problem(url) == problem
    assert "slack.com" not in problem


def test_the_url_is_shown_by_its_host_and_redacted_with_its_path_and_token():
    url = "https://user:pw@hooks.slack.com:8443/services/T0/B0/abcdefghij?x=1"
    assert webhook_shown(url) == "https://hooks.slack.com:8443/…"
    assert webhook_secrets(url) == [url, "/services/T0/B0/abcdefghij?x=1", "abcdefghij"]
    assert webhook_secrets("http://h/hook") == ["http://h/hook", "/hook"]

"""Property tests of the replies: whatever a card's name, a project, a note, a username or
a refusal reason holds, every reply the service builds is within Trello's limit, carries
exactly its own marker at its end, mentions no one and renders as no link or HTML."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from board_script import BOARD_ID, BoardScript
from hypothesis import given, settings
from hypothesis import strategies as st
from planning import apply, config

from trello_sync.domain.money import Money
from trello_sync.domain.planner import (
    BoardFacts,
    CardFacts,
    plan,
    plan_deleted_comments,
)
from trello_sync.domain.projects import ProjectLevel
from trello_sync.domain.records import BoardView, Entry, Reply
from trello_sync.domain.reminders import plan_reminders
from trello_sync.domain.replies import (
    MARKER_PATTERN,
    MAX_COMMENT_LENGTH,
    MonthTotals,
    cap_warning_text,
    deleted_text,
    echo,
    fee_text,
    handoff_text,
    make_reply,
    marker,
    nudge_text,
    pause_reminder_text,
    recorded_text,
    refused_text,
    reversed_text,
    uncommanded_text,
    undone_text,
)
from trello_sync.domain.rules import EntryKind, Funding

FUZZ = settings(database=None, deadline=None, max_examples=100)

PIECES = [
    "@board",
    "@here ",
    "@lea_student",
    "[pay here](http://example.invalid)",
    "![x](javascript:alert(1))",
    "https://example.invalid/path?q=1",
    "www.example.invalid",
    "WWW",
    "example.invalid",
    "<b>x</b>",
    "<http://a.invalid>",
    "&#64;board",
    "**bold** __it__ ~~s~~ `code` | a |",
    "\n# title\n- item\n1. first\n> quote\n===\n",
    "[trello-sync ref:0123456789abcdef]",
    "[trello-sync ref:",
    "]",
    "\u202e\u2066\x00\x1b[31m\r\n\t",
    "Léa Dupont",
    "😀",
    ":",
    "/",
    ".",
    "w",
]
SURROGATES = st.text(st.characters(codec=None, categories=["Cs"]), max_size=3)
HOSTILE = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8), SURROGATES), max_size=40).map(
        "".join
    ),
    # Long texts, up to 20,000 characters: a name renamed to the limit and more.
    st.tuples(st.sampled_from(PIECES), st.integers(1, 20_000)).map(
        lambda t: (t[0] * t[1])[:20_000]
    ),
)
MONEY = st.integers(-(10**9), 10**9).map(lambda cents: Money(cents, "EUR"))


def assert_safe(reply: Reply) -> None:
    text = reply.text
    assert len(text) <= MAX_COMMENT_LENGTH
    assert text.endswith(marker(reply.reply_id)), text[-80:]
    assert len(MARKER_PATTERN.findall(text)) == 1, text[:300]
    assert not re.search(r"@\w", text), text[:300]
    for live in ("](", "://", "<", ">"):
        assert live not in text, (live, text[:300])
    assert "www." not in text.casefold(), text[:300]
    text.encode("utf-8")  # postable: no lone surrogate


def an_entry(student: str, project: str | None, note: str, mentor: str) -> Entry:
    return Entry(
        entry_id="a1",
        recorded_at=datetime(2026, 11, 3, 17, tzinfo=UTC),
        board_id=BOARD_ID,
        card_id="c1",
        student=student,
        project=project,
        level=2,
        status="done",
        session_date=date(2026, 11, 3),
        duration_minutes=45,
        note=note,
        rate_cents=3500,
        share_percent=100,
        amount_cents=3500,
        currency="EUR",
        mentor=mentor,
        source_action_id="a1",
    )


@FUZZ
@given(text=HOSTILE, limit=st.integers(0, 400))
def test_echo_is_bounded_inert_and_idempotent(text: str, limit: int):
    shown = echo(text, limit)
    assert len(shown) <= limit
    assert "\n" not in shown and not MARKER_PATTERN.search(shown)
    assert not re.search(r"@\w", shown)
    for live in ("](", "://", "<", ">", "[", "]", "`", "*", "|", "#"):
        assert live not in shown
    assert "www" not in shown.casefold()
    assert echo(shown, limit) == shown


@FUZZ
@given(
    name=HOSTILE,
    project=st.one_of(st.none(), HOSTILE),
    note=HOSTILE,
    username=HOSTILE,
    reason=HOSTILE,
    usage=st.booleans(),
    totals=MONEY,
    days=st.integers(0, 10_000),
)
def test_every_reply_text_builder_gives_a_safe_reply(
    name, project, note, username, reason, usage, totals, days
):
    entry = an_entry(name, project, note, username)
    reversal = replace(entry, entry_id="a1~rev", amount_cents=-3500, reverses_entry_id="a1")
    day = date(2026, 11, 3)
    bodies = {
        "recorded": recorded_text(entry, MonthTotals("2026-11", days, totals)),
        "corrected": recorded_text(entry, MonthTotals("2026-11", days, totals), corrected=True),
        "refused": refused_text(reason, usage, reversed_text(reversal, entry)),
        "refused_plain": refused_text(reason),
        "undone": undone_text(reversal, entry),
        "deleted": deleted_text(reversal, entry),
        "uncommanded": uncommanded_text(reversal, entry),
        "defense_with_fee": recorded_text(
            replace(entry, kind=EntryKind.DEFENSE, funding=Funding.SELF),
            MonthTotals("2026-11", days, totals, defenses=days),
            fees=fee_text(replace(entry, kind=EntryKind.FEE, funding=Funding.SELF)),
        ),
        "fee_reversed": fee_text(replace(reversal, kind=EntryKind.FEE), entry),
        "handoff": handoff_text(name, day, day, days, totals),
        "handoff_never": handoff_text(name, None, day, days, totals),
        "cap": cap_warning_text(days, 20),
        "pause_reminder": pause_reminder_text(name, days, day),
        "nudge": nudge_text(name, day, days),
    }
    for kind, body in bodies.items():
        assert_safe(make_reply(BOARD_ID, "c1", "a1@v", kind, body))
    # Even a body that no builder made (outside text pasted in raw) is bounded and ends
    # with exactly its own marker.
    raw = make_reply(BOARD_ID, "c1", "a1", "raw", f"{name}{reason}")
    assert len(raw.text) <= MAX_COMMENT_LENGTH and raw.text.endswith(marker(raw.reply_id))
    assert len(MARKER_PATTERN.findall(raw.text)) == 1


SCRIPT = """
create Lea in Waiting at 2026-10-01 09:00
move Lea to "En cours" at 2026-10-02 09:00
comment Lea "/session 45m NOTE" at 2026-10-03 18:00
comment Lea "/session" at 2026-10-03 18:05 by STUDENT
comment Lea "/WORD" at 2026-10-03 18:10
comment Lea "/session 2026-10-04" at 2026-10-04 18:00
comment Lea "/noshow 2026-10-04" at 2026-10-04 19:00
comment Lea "/session 2026-10-05" at 2026-10-05 18:00
comment Lea "/undo" at 2026-10-05 18:10
move Lea to "Passé la main" at 2026-10-06 09:00
create Max in Waiting at 2026-10-01 09:00
move Max to "En cours" at 2026-10-02 09:00
create Pia in Waiting at 2026-10-01 09:00
move Pia to "En pause" at 2026-10-02 09:00
"""


@FUZZ
@given(
    name=HOSTILE, project=st.one_of(st.none(), HOSTILE), note=HOSTILE, word=HOSTILE, user=HOSTILE
)
def test_every_planned_reply_is_safe_whatever_the_board_holds(name, project, note, word, user):
    script = BoardScript()
    actions = script.run(SCRIPT)
    hostile = []
    for action in actions:
        changes: dict[str, object] = {"card_name": name} if action.card_name else {}
        if action.text is not None:
            text = action.text.replace("NOTE", note).replace("/WORD", "/" + word.lstrip())
            changes["text"] = text
        if action.member_username == "STUDENT":
            changes["member_username"] = user or "x"
        hostile.append(replace(action, **changes))
    level = ProjectLevel(project, 2, "label" if project else "none")
    cards = {card_id: CardFacts(name, level) for card_id in script.cards.values()}
    board = BoardFacts(cards, present_cards=frozenset(script.cards.values()))
    cfg = config(cap=1)
    first = plan(hostile, BoardView(BOARD_ID), board, cfg)
    view = apply(BoardView(BOARD_ID), first)
    # The edits: the first command into plain text, the second into a refused command.
    c1, c4 = script.comments["c1"], script.comments["c4"]
    edits = script.run(
        """
        edit c1 "thanks!" at 2026-10-07 09:00
        edit c4 "/session 2027-01-01" at 2026-10-07 09:05
        """
    )
    assert [a.id for a in edits] == [c1["id"], c4["id"]]
    edits = [replace(a, card_name=name) for a in edits]
    second = plan(edits, view, board, cfg)
    view = apply(view, second)
    deleted = plan_deleted_comments(
        frozenset(), datetime(2026, 9, 1, tzinfo=UTC), view, board, cfg, datetime.now(UTC)
    )
    later = datetime(2026, 11, 1, tzinfo=UTC)
    reminders = plan_reminders(
        view,
        later,
        pause_warning_days=14,
        nudge_days=14,
        tz=cfg.tz,
        due_since=later - timedelta(days=30),
    )
    replies = [*first.replies, *second.replies, *deleted.replies, *reminders]
    kinds = {r.kind for r in replies}
    # Every kind of reply is there (a note can make the first command a refused one).
    expected = {"recorded", "refused", "handoff", "deleted", "nudge", "pause_reminder", "cap"}
    if any(e.source_action_id == c1["id"] for e in first.entries):
        expected.add("uncommanded")
    assert expected <= kinds, kinds
    for reply in replies:
        assert_safe(reply)

"""What the service writes on a card: outside text echoed inert, every reply within
Trello's limit, and ordinary replies exactly as they always read."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from board_script import BoardScript
from planning import config, facts

from trello_sync.domain.money import Money
from trello_sync.domain.planner import BoardFacts, CardFacts, plan
from trello_sync.domain.projects import ProjectLevel
from trello_sync.domain.records import BoardView, Entry
from trello_sync.domain.replies import (
    MARKER_PATTERN,
    MAX_COMMENT_LENGTH,
    MonthTotals,
    comment_length,
    echo,
    find_marker,
    fit_comment,
    make_reply,
    marker,
    recorded_text,
    reply_id_for,
)

FARID = "Farid @board [pay here](http://example.invalid)"
MARKUP = "@here #1 **bold** `code` <b>x</b> | a | www.x.io ~~gone~~ _it_ \\*"
FAKE_MARKER = "[trello-sync ref:0123456789abcdef]"


def inert(text: str) -> None:
    """Nothing in `text` a renderer or Trello's mentions would act on."""
    assert not re.search(r"@\w", text), text
    for live in ("](", "://", "www.", "<", ">", "`", "**", "~~", "|", "#", "\n", "\\"):
        assert live not in text, (live, text)
    assert not MARKER_PATTERN.search(text), text
    assert not re.search(r"[A-Za-z0-9]\.[A-Za-z0-9]", text), text  # no domain


def entry(student: str = "Léa Dupont", project: str | None = "Learn how to learn") -> Entry:
    return Entry(
        entry_id="a1",
        recorded_at=datetime(2026, 11, 3, 17, tzinfo=UTC),
        board_id="b",
        card_id="c",
        student=student,
        project=project,
        level=1,
        status="done",
        session_date=date(2026, 11, 3),
        duration_minutes=45,
        note="",
        rate_cents=3000,
        share_percent=100,
        amount_cents=3000,
        currency="EUR",
        mentor="camille",
        source_action_id="a1",
    )


@pytest.mark.parametrize(
    "name", ["Léa Dupont", "Jean-Marc O'Neil", "Noé", "Zoë van der Berg (2e)", "Tom & Jerry"]
)
def test_ordinary_names_read_exactly_as_written(name: str):
    assert echo(name, 100) == name


def test_an_ordinary_reply_reads_as_it_always_did():
    totals = MonthTotals("2026-11", 2, Money(6000, "EUR"))
    assert recorded_text(entry(), totals) == (
        "Session recorded: 2026-11-03, 45 min · Level 1 (Learn how to learn) · 30.00 EUR "
        "(100% of 30.00 EUR).\nLéa Dupont, 2026-11: 2 session(s), 60.00 EUR."
    )


def test_a_card_name_mentions_no_one_and_links_nowhere():
    shown = echo(FARID, 100)
    inert(shown)
    # It still reads as what was written, character for look-alike character.
    assert shown == "Farid ＠board ［pay here］(http:／／example․invalid)"


def test_markdown_html_and_entities_are_inert():
    inert(echo(MARKUP, 300))
    assert "&#64;" not in echo("&#64;board", 100)  # an @ once rendered
    assert echo("Tom & Jerry", 100) == "Tom & Jerry"


@pytest.mark.parametrize(
    ("written", "shown"),
    [("- Farid", "‐ Farid"), ("+ x", "＋ x"), ("1. Farid", "1․ Farid"), ("2) y", "2） y")],
)
def test_an_echoed_text_cannot_start_a_markdown_block(written: str, shown: str):
    # A student's name begins the second line of a recorded reply.
    assert echo(written, 100) == shown
    assert not echo("===", 100).startswith("==")


def test_echoed_text_never_holds_a_reply_marker():
    shown = echo(f"Eve {FAKE_MARKER}", 100)
    assert MARKER_PATTERN.search(shown) is None and find_marker(shown) is None
    assert "trello-sync ref:0123456789abcdef" in shown  # still readable


def test_control_characters_newlines_and_bidi_overrides_become_one_line():
    # The overrides are dropped (they would reorder the rest of the reply on screen).
    assert echo("a\nb\r\n\tc\x00d\u202ee\u2066f  g\u2028h", 100) == "a b c def g h"
    shown = echo("x\ud800y", 100)  # a lone surrogate, as JSON may carry one
    assert shown.encode("utf-8") == "x\ufffdy".encode()


def test_echo_cuts_long_text_with_an_ellipsis():
    shown = echo("N" * 16_300, 100)
    assert len(shown) == 100 and shown.endswith("…")
    assert echo("x" * 5 + " " * 50 + "y" * 50, 7) == "xxxxx…"  # no white space before it


def test_a_non_mentors_refusal_names_them_without_mentioning_them():
    script = BoardScript()
    actions = script.run(
        """
        create Lea in Waiting at 2026-11-01 09:00
        move Lea to "En cours" at 2026-11-02 09:00
        comment Lea "/session" at 2026-11-03 18:00 by lea_student
        """
    )
    result = plan(actions, BoardView("b"), facts({}, script.cards), config())
    (refused,) = result.replies
    assert "only the mentor can log sessions, and lea＿student is not one" in refused.text
    assert "@" not in refused.text


def hostile_board(name: str, project: str | None, command: str) -> tuple[list, BoardFacts]:
    script = BoardScript()
    actions = script.run(
        f"""
        create Lea in Waiting at 2026-11-01 09:00
        move Lea to "En cours" at 2026-11-02 09:00
        comment Lea {command!r} at 2026-11-03 18:00
        move Lea to "Passé la main" at 2026-11-04 09:00
        """
    )
    card_id = script.cards["Lea"]
    actions = [replace(a, card_name=name) for a in actions]
    level = ProjectLevel(project, 2, "label" if project else "none")
    return actions, BoardFacts({card_id: CardFacts(name, level)}, present_cards=frozenset())


def test_a_card_renamed_to_16300_characters_gets_short_replies():
    actions, board = hostile_board("N" * 16_300, "P" * 16_000, "/session 45m")
    result = plan(actions, BoardView("b"), board, config())
    assert [r.kind for r in result.replies] == ["recorded", "handoff"]
    for reply in result.replies:
        assert len(reply.text) < 1_000, len(reply.text)
        assert "N" * 99 + "…" in reply.text
    assert "P" * 99 + "…" in result.replies[0].text
    # The ledger keeps the name as Trello shows it: only the reply shortens it.
    assert result.entries[0].student == "N" * 16_300


def test_a_command_of_16384_characters_gets_a_short_refusal():
    actions, board = hostile_board("Lea", None, "/" + "x" * 16_383)
    result = plan(actions, BoardView("b"), board, config())
    refused = next(r for r in result.replies if r.kind == "refused")
    assert len(refused.text) < 1_500, len(refused.text)
    assert "Nothing recorded: unknown command" in refused.text and "…" in refused.text
    assert find_marker(refused.text) == refused.reply_id


def test_a_reply_is_within_trellos_limit_whatever_its_body():
    reply = make_reply("b", "c", "a1", "recorded", "y" * 20_000)
    assert len(reply.text) <= MAX_COMMENT_LENGTH
    assert reply.text.startswith("🤖 y") and reply.text.endswith(f"\n\n{marker(reply.reply_id)}")
    assert "y…\n\n" in reply.text
    # Characters outside the BMP count twice in JavaScript: the limit holds that way too.
    wide = make_reply("b", "c", "a1", "recorded", "😀" * 10_000)
    assert (
        comment_length(wide.text) <= MAX_COMMENT_LENGTH < len(("😀" * 10_000).encode("utf-16-le"))
    )
    assert find_marker(wide.text) == wide.reply_id


def test_fit_comment_leaves_a_reply_that_fits_unchanged():
    reply = make_reply("b", "c", "a1", "recorded", "Session recorded: …\nLéa, 2026-11.")
    assert fit_comment(reply.text) == reply.text
    assert fit_comment("plain") == "plain"


def test_fit_comment_shortens_an_old_row_and_keeps_its_marker():
    own = marker(reply_id_for("b", "a2", "recorded"))
    old = f"🤖 {'y' * 20_000}\n\n{own}"
    fitted = fit_comment(old)
    assert len(fitted) <= MAX_COMMENT_LENGTH and fitted.endswith(f"…\n\n{own}")
    assert fit_comment(fitted) == fitted
    assert len(fit_comment("z" * 20_000)) == MAX_COMMENT_LENGTH  # no marker: cut all the same


def test_fit_comment_leaves_only_the_replys_own_marker():
    # An older version echoed a card named "Eve [trello-sync ref:…]" as it was.
    own = marker(reply_id_for("b", "a3", "handoff"))
    old = f"🤖 Mentorship summary for Eve {FAKE_MARKER}: …\n\n{own}"
    fitted = fit_comment(old)
    assert MARKER_PATTERN.findall(fitted) == [own[len("[trello-sync ref:") : -1]]
    assert find_marker(old) == find_marker(fitted) == reply_id_for("b", "a3", "handoff")

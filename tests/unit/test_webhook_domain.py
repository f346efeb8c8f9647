"""Webhooks as data (domain/webhooks.py): a delivery's signature, what a delivery asks,
which webhooks are kept, created, re-activated or deleted, what `check` says of them,
and the cycle's decision after a delivery said a card's comment was edited or deleted."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from planning import config, facts
from test_cycle import NOW, PROJECTS, settled, start

from trello_sync.domain import cycle
from trello_sync.domain.checks import CheckFacts, Kind, Unavailable, trello_webhooks
from trello_sync.domain.webhooks import (
    MAX_BODY_BYTES,
    DeliveryKind,
    Registration,
    UnreadableDelivery,
    WebhookFacts,
    callback_url_problem,
    description_for,
    expected_signature,
    parse_listen,
    plan_registrations,
    read_delivery,
    signature_matches,
)
from trello_sync.sandbox.webhooks import sign

SECRET = "app-secret"
URL = "https://hooks.example.org/trello"
BODY = b'{"action":{"id":"1"}}'
BOARD = "5f0000000000000000b0a4d1"
OTHER_BOARD = "5f0000000000000000b0a4d2"
CARD = "5f00000000000000000ca4d1"
ACTION = "5f00000000000000000ac001"
COMMENT = "5f00000000000000000cc001"


# --- the signature --------------------------------------------------------------------------


def test_the_signature_is_trellos_base64_hmac_sha1_of_the_body_and_the_callback_url():
    # Computed apart: `printf '%s' BODY+URL | openssl dgst -sha1 -hmac app-secret -binary | base64`
    assert expected_signature(SECRET, BODY, URL) == "Cm+PnthcrrWrCB4uUdI+9DSGxvo="
    assert expected_signature(SECRET, BODY, URL) == sign(SECRET, BODY, URL)  # the sandbox's


def test_a_good_signature_matches():
    assert signature_matches(SECRET, BODY, URL, "Cm+PnthcrrWrCB4uUdI+9DSGxvo=")
    assert signature_matches(SECRET, BODY, URL, " Cm+PnthcrrWrCB4uUdI+9DSGxvo=\r\n")


@pytest.mark.parametrize(
    "header",
    [None, "", "bad", "Cm+PnthcrrWrCB4uUdI+9DSGxvo", "cm+PnthcrrWrCB4uUdI+9DSGxvo=", "é" * 28],
    ids=["missing", "empty", "bad", "shortened", "another-case", "not-ascii"],
)
def test_a_bad_or_missing_signature_does_not_match(header: str | None):
    assert not signature_matches(SECRET, BODY, URL, header)


def test_a_signature_for_another_url_or_secret_or_a_body_changed_by_one_byte_does_not_match():
    good = expected_signature(SECRET, BODY, URL)
    assert not signature_matches(SECRET, BODY, URL + "/", good)
    assert not signature_matches(SECRET, BODY, "http://hooks.example.org/trello", good)
    assert not signature_matches("another-secret", BODY, URL, good)
    assert not signature_matches("", BODY, URL, expected_signature("", BODY, URL))
    for index in range(len(BODY)):
        changed = BODY[:index] + bytes([BODY[index] ^ 1]) + BODY[index + 1 :]
        assert not signature_matches(SECRET, changed, URL, good), index


# --- what a delivery asks ---------------------------------------------------------------------


def delivery(action_type: str = "commentCard", **data: object) -> dict[str, object]:
    return {
        "action": {"id": ACTION, "type": action_type, "data": {"card": {"id": CARD}, **data}},
        "model": {"id": BOARD, "name": "Mentoring"},
    }


def test_a_new_action_wakes_its_board():
    read = read_delivery(delivery("commentCard", text="/session"))
    assert (read.board_id, read.action_id, read.kind) == (BOARD, ACTION, DeliveryKind.ACTION)
    assert read.card_id is None and not read.changes_comments


def test_an_edited_or_deleted_comment_names_its_card_and_nothing_else_is_read():
    edited = read_delivery(
        delivery("updateComment", action={"id": COMMENT, "text": "/session 1h"}, old={"text": "x"})
    )
    assert (edited.kind, edited.card_id) == (DeliveryKind.COMMENT_EDITED, CARD)
    deleted = read_delivery(delivery("deleteComment", action={"id": COMMENT}))
    assert (deleted.kind, deleted.card_id) == (DeliveryKind.COMMENT_DELETED, CARD)
    assert deleted.changes_comments
    # Ids are kept lower case, as the ledger holds them.
    upper = delivery()
    upper["model"] = {"id": BOARD.upper()}
    assert read_delivery(upper).board_id == BOARD


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"action": {}},
        {"action": {"id": ACTION, "type": "commentCard"}},
        {"action": {"id": ACTION, "type": "commentCard"}, "model": {"id": "../../etc"}},
        {"action": {"id": "x" * 10_000, "type": "commentCard"}, "model": {"id": BOARD}},
        {"action": {"id": ACTION, "type": "a" * 65}, "model": {"id": BOARD}},
        {"action": {"id": ACTION, "type": 7}, "model": {"id": BOARD}},
        {"action": {"id": ACTION, "type": "updateComment", "data": {}}, "model": {"id": BOARD}},
        {
            "action": {"id": ACTION, "type": "deleteComment", "data": {"card": {"id": 3}}},
            "model": {"id": BOARD},
        },
    ],
)
def test_anything_else_is_unreadable(payload: object):
    with pytest.raises(UnreadableDelivery):
        read_delivery(payload)


def test_the_settings_shapes():
    assert parse_listen("127.0.0.1:8787") == ("127.0.0.1", 8787)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen(" 0.0.0.0:443 ") == ("0.0.0.0", 443)
    for bad in ("8787", ":8787", "host:", "host:port", "host:70000", "host:-1"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_listen(bad)
    assert callback_url_problem(URL) is None
    assert callback_url_problem("http://127.0.0.1:8787/trello?x=1") is None
    for bad in ("hooks.example.org/trello", "ftp://x/y", "https://", "https://a b/c"):
        assert callback_url_problem(bad), bad
    assert MAX_BODY_BYTES == 1_048_576


# --- the token's webhooks -----------------------------------------------------------------------


def registration(
    webhook_id: str,
    board: str = BOARD,
    url: str = URL,
    *,
    ours: bool = True,
    active: bool = True,
    failures: int = 0,
) -> Registration:
    return Registration.of(
        {
            "id": f"{webhook_id:0>24}",
            "idModel": board,
            "callbackURL": url,
            "description": description_for(board) if ours else "another program",
            "active": active,
            "consecutiveFailures": failures,
            "firstConsecutiveFailDate": "2026-11-20T10:00:00.000Z" if failures else None,
        }
    )


def test_a_missing_webhook_is_created_and_an_active_one_kept():
    plan = plan_registrations([registration("a1")], [BOARD, OTHER_BOARD], URL)
    assert [r.webhook_id[-2:] for r in plan.keep] == ["a1"]
    assert plan.create == (OTHER_BOARD,) and not plan.reactivate and not plan.delete
    assert plan.changes
    again = plan_registrations(
        [registration("a1"), registration("a2", OTHER_BOARD)], [BOARD, OTHER_BOARD], URL
    )
    assert not again.changes  # running it again changes nothing


def test_a_paused_webhook_is_reactivated_not_created_again():
    plan = plan_registrations([registration("a1", active=False)], [BOARD], URL)
    assert [r.webhook_id[-2:] for r in plan.reactivate] == ["a1"] and not plan.create


def test_our_stale_webhooks_are_deleted_and_another_programs_are_left_alone():
    existing = [
        registration("a1"),
        registration("a2", url="https://old.example.org/trello"),  # ours, another URL
        registration("a3", OTHER_BOARD),  # ours, a board no longer watched
        registration("a4", url="https://zapier.example.com/x", ours=False),
        registration("a5", OTHER_BOARD, ours=False),
        registration("a6"),  # a second one for the same board and URL
    ]
    plan = plan_registrations(existing, [BOARD], URL)
    assert [r.webhook_id[-2:] for r in plan.keep] == ["a1"]
    assert sorted(r.webhook_id[-2:] for r in plan.delete) == ["a2", "a3", "a6"]
    assert not plan.create and not plan.reactivate


def test_a_webhook_made_by_hand_for_the_board_and_the_url_serves_it():
    plan = plan_registrations([registration("a1", ours=False)], [BOARD], URL)
    assert [r.webhook_id[-2:] for r in plan.keep] == ["a1"] and not plan.create


def test_trellos_listing_is_read_strictly():
    with pytest.raises(ValueError):
        Registration.of({"id": "nope", "idModel": BOARD, "callbackURL": URL})
    with pytest.raises(ValueError):
        Registration.of({"id": "a" * 24, "idModel": BOARD})
    odd = Registration.of(
        {"id": "a" * 24, "idModel": BOARD, "callbackURL": URL, "consecutiveFailures": "3"}
    )
    assert odd.active and odd.consecutive_failures == 0 and not odd.made_by_trello_sync


# --- what check says -------------------------------------------------------------------------


def findings(hooks: WebhookFacts | Unavailable | None) -> list[tuple[Kind, str]]:
    facts_ = CheckFacts(None, None, None, None, webhooks=hooks)  # type: ignore[arg-type]
    return [(f.kind, f.line) for f in trello_webhooks(facts_)]


def test_check_shows_each_boards_webhook_and_its_consecutive_failures():
    hooks = WebhookFacts(
        "TRELLO_SYNC_WEBHOOK_LISTEN",
        URL,
        (("Mentoring", BOARD), ("Second", OTHER_BOARD), ("Third", "5f0000000000000000b0a4d3")),
        (
            registration("a1", failures=3),
            registration("a2", OTHER_BOARD, active=False),
            registration("a3", "5f0000000000000000b0a4d9"),
        ),
    )
    lines = findings(hooks)
    assert {kind for kind, _ in lines} == {Kind.NOTE}  # never a problem: polling goes on
    text = "\n".join(line for _, line in lines)
    assert f"board 'Mentoring': webhook {'a1':0>24} active, 3 consecutive failures since " in text
    assert "2026-11-20T10:00:00.000Z: Trello cannot reach" in text
    assert f"board 'Second': webhook {'a2':0>24} is paused" in text
    assert f"board 'Third': no webhook at {URL} yet" in text
    assert f"{'a3':0>24} ({URL}) is stale" in text
    healthy = replace(hooks, registrations=(registration("a1"),), boards=(("Mentoring", BOARD),))
    assert findings(healthy) == [
        (
            Kind.NOTE,
            f"board 'Mentoring': webhook {'a1':0>24} active at {URL}, 0 consecutive failures",
        )
    ]


def test_check_says_nothing_when_webhooks_are_off_and_one_line_when_unreadable():
    assert findings(None) == []
    assert findings(WebhookFacts("TRELLO_SYNC_WEBHOOK_LISTEN", None)) == []  # off
    assert findings(Unavailable("webhooks", "Trello unavailable")) == [
        (Kind.PROBLEM, "webhooks: Trello unavailable")
    ]


# --- the cycle after a delivery -----------------------------------------------------------------


def test_a_card_read_again_reverses_its_missing_command_and_leaves_other_cards_alone():
    script, view = settled()  # Lea has one /session of the open months
    lea, max_ = script.cards["Lea"], script.cards["Max"]
    state = start(view, now=NOW + timedelta(minutes=5))  # no hourly re-read due
    assert not state.rereading and not state.looks_for_deletions
    # Max's card was read again and shows nothing: Lea's comment, not read, still counts.
    other = state.with_cards_reread({max_}, ())
    assert other.looks_for_deletions
    decision = cycle.decide_last(
        [],
        view,
        facts(PROJECTS, script.cards),
        config(),
        other,
        latest=None,
        window_size=0,
        planned_before=False,
    )
    assert decision.plan.entries == () and decision.plan.replies == ()
    assert decision.plan.reread_at is None  # not the hourly re-read
    # Lea's card read again without her comment: it was deleted.
    deleted = state.with_cards_reread({lea}, ())
    outlined = replace(view, cards={}, outlines={lea: view.cards[lea].outline()})
    assert cycle.cards_to_hold_whole(outlined, [], deleted, last=True) == {lea}
    decision = cycle.decide_last(
        [],
        view,
        facts(PROJECTS, script.cards),
        config(),
        deleted,
        latest=None,
        window_size=0,
        planned_before=False,
    )
    assert [(e.student, e.amount_cents) for e in decision.plan.entries] == [("Lea", -3000)]
    assert [r.kind for r in decision.plan.replies] == ["deleted"]
    assert decision.plan.reread_at is None


def test_a_card_read_again_that_still_shows_the_comment_changes_nothing():
    script, view = settled()
    comment_id = next(iter(view.comments))
    state = start(view, now=NOW + timedelta(minutes=5)).with_cards_reread(
        {script.cards["Lea"]}, {comment_id}
    )
    decision = cycle.decide_last(
        [],
        view,
        facts(PROJECTS, script.cards),
        config(),
        state,
        latest=None,
        window_size=0,
        planned_before=False,
    )
    assert decision.plan.entries == () and decision.plan.replies == ()


def test_a_first_sync_reads_no_card_apart():
    script, view = settled()
    first = replace(view, checkpoint=None)
    state = start(first).with_cards_reread({script.cards["Lea"]}, ())
    assert state.first and not state.looks_for_deletions


def test_the_services_own_reply_is_told_apart_by_its_author_and_its_marker():
    reply = delivery("commentCard", text="Recorded. [trello-sync ref:0123456789abcdef]")
    reply["action"]["idMemberCreator"] = "5f00000000000000000de001"  # type: ignore[index]
    read = read_delivery(reply)
    assert read.marked_comment and read.member_id == "5f00000000000000000de001"
    assert read.is_reply_of("5f00000000000000000de001")
    assert not read.is_reply_of("5f00000000000000000de002") and not read.is_reply_of(None)
    # The mentor's own command, by the same member, has no marker: it wakes its board.
    command = delivery("commentCard", text="/session")
    command["action"]["idMemberCreator"] = "5f00000000000000000de001"  # type: ignore[index]
    assert not read_delivery(command).is_reply_of("5f00000000000000000de001")

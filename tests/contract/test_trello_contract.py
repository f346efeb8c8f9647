"""One contract for every TrelloPort: the in-memory fake and the HTTP client over real HTTP.

Each test builds a board through the SandboxState Python API, then asks the port. The
oracle is the state itself, so both ports are held to the same answers. The `http` port
is HttpTrello talking over loopback sockets to a SandboxServer in a background thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from contract.trello_fixtures import (
    FEED_TYPES,
    MENTOR,
    STUDENT,
    UNKNOWN_BOARD,
    at,
    feed_of,
    http_client,
    ids,
    long_history,
    make_state,
    order_key,
    running_server,
)

from trello_sync.sandbox import SandboxState
from trello_sync.sandbox.shapes import Json, format_date
from trello_sync.trello.client import HttpTrello
from trello_sync.trello.fake import FakeTrello
from trello_sync.trello.port import (
    TrelloAuthError,
    TrelloNotFound,
    TrelloPort,
    TrelloRefused,
)

MAX_COMMENT = 16384


@dataclass
class Trello:
    """A port under test, the state behind it, and a way to get the same port for a token."""

    kind: str
    state: SandboxState
    token: str
    port: TrelloPort
    for_token: Callable[[str], TrelloPort]


@pytest.fixture(params=["fake", "http"])
def trello(request: pytest.FixtureRequest) -> Iterator[Trello]:
    state, token = make_state()
    if request.param == "fake":
        yield Trello("fake", state, token, FakeTrello(state, token), lambda t: FakeTrello(state, t))
        return
    clients: list[HttpTrello] = []

    with running_server(state) as server:

        def for_token(t: str) -> TrelloPort:
            clients.append(http_client(server, t))
            return clients[-1]

        try:
            yield Trello("http", state, token, for_token(token), for_token)
        finally:
            for client in clients:
                client.close()


@dataclass
class Board:
    """A small cohort board with every feed type, and things the feed must not show."""

    id: str
    short_link: str
    other: str  # another board of the mentor's
    lists: dict[str, str] = field(default_factory=dict)
    cards: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    comments: dict[str, Json] = field(default_factory=dict)


def build_board(s: SandboxState) -> Board:
    board = s.create_board(MENTOR, "Cohort 12", at=at(0))
    other = s.create_board(MENTOR, "Cohort 11", at=at(0))
    s.add_board_member(MENTOR, board["id"], STUDENT, at=at(1))
    b = Board(board["id"], board["shortLink"], other["id"])
    for name in ("To do", "Doing", "Done", "Old"):
        b.lists[name] = s.create_list(MENTOR, b.id, name, at=at(2))["id"]
    other_list = s.create_list(MENTOR, b.other, "Inbox", at=at(2))["id"]
    b.labels["learn"] = s.create_label(MENTOR, b.id, "Learn how to learn", "green")["id"]
    b.labels["paid"] = s.create_label(MENTOR, b.id, "Paid", "red")["id"]
    b.fields["project"] = s.create_custom_field(MENTOR, b.id, "Project", "text")["id"]
    b.fields["level"] = s.create_custom_field(
        MENTOR, b.id, "Level", "list", options=["Junior", "Senior"]
    )["id"]
    b.fields["hours"] = s.create_custom_field(MENTOR, b.id, "Hours", "number")["id"]

    def card(key: str, list_name: str, name: str, when: float, board_list: str = "") -> str:
        lst = board_list or b.lists[list_name]
        b.cards[key] = s.create_card(MENTOR, lst, name, at=at(when))["id"]
        return b.cards[key]

    alice = card("alice", "To do", "Alice Nguyen", 10)
    s.add_label(MENTOR, alice, b.labels["learn"], at=at(11))
    s.set_custom_field(MENTOR, alice, b.fields["project"], "Portfolio", at=at(12))
    s.set_custom_field(MENTOR, alice, b.fields["level"], "Senior", at=at(13))
    b.comments["hello"] = s.comment(STUDENT, alice, "Hello!", at=at(20))
    s.move_card(MENTOR, alice, b.lists["Doing"], at=at(30))
    b.comments["edited"] = s.comment(MENTOR, alice, "/session 1h", at=at(40))
    b.comments["deleted"] = s.comment(MENTOR, alice, "/session 9h (typo)", at=at(45))

    bob = card("bob", "Doing", "Bob Martin", 60)
    s.set_custom_field(MENTOR, bob, b.fields["hours"], {"number": "2.5"}, at=at(61))
    s.archive_card(MENTOR, bob, at=at(70))

    b.cards["copy"] = s.copy_card(MENTOR, alice, b.lists["To do"], name="Alice 2", at=at(80))["id"]

    gone = card("gone", "To do", "Mistake", 90)
    s.comment(MENTOR, gone, "oops", at=at(91))
    s.move_card(MENTOR, gone, b.lists["Done"], at=at(92))
    s.delete_card(MENTOR, gone, at=at(93))

    incoming = card("incoming", "", "From cohort 11", 100, board_list=other_list)
    s.move_card_to_board(MENTOR, incoming, b.id, b.lists["To do"], at=at(110))
    leaving = card("leaving", "Doing", "To cohort 11", 120)
    s.move_card_to_board(MENTOR, leaving, b.other, other_list, at=at(130))

    b.cards["converted"] = s.convert_check_item_to_card(MENTOR, alice, "Item", at=at(135))["id"]
    s.rename_card(MENTOR, alice, "Alice N.", at=at(140))
    card("carla", "Old", "Carla (archived list)", 145)
    s.set_list_closed(MENTOR, b.lists["Old"], True, at=at(150))
    s.edit_comment(MENTOR, b.comments["edited"]["id"], "/session 2h", at=at(160))
    s.delete_comment(MENTOR, b.comments["deleted"]["id"], at=at(170))
    return b


def _card_of(action: Json) -> str | None:
    return (action["data"].get("card") or {}).get("id")


# --- who, which board --------------------------------------------------------------------


def test_me_is_the_tokens_member(trello: Trello) -> None:
    me = trello.port.me()
    mentor = trello.state.member(MENTOR)
    assert {k: me[k] for k in ("id", "username", "fullName")} == {
        "id": mentor["id"],
        "username": "mentor",
        "fullName": "Camille Martin",
    }
    student = trello.for_token(trello.state.add_token(STUDENT)).me()
    assert student["username"] == "student"


def test_board_by_id_and_by_short_link(trello: Trello) -> None:
    b = build_board(trello.state)
    by_id = trello.port.board(b.id)
    by_link = trello.port.board(b.short_link)
    for got in (by_id, by_link):
        assert {k: got[k] for k in ("id", "name", "shortLink", "closed")} == {
            "id": b.id,
            "name": "Cohort 12",
            "shortLink": b.short_link,
            "closed": False,
        }


def test_board_members_are_the_members_of_that_board(trello: Trello) -> None:
    b = build_board(trello.state)
    members = trello.port.board_members(b.id)
    assert sorted((m["username"], m["fullName"]) for m in members) == [
        ("mentor", "Camille Martin"),
        ("student", "Alice Nguyen"),
    ]
    assert {m["id"] for m in members} == {
        trello.state.member(MENTOR)["id"],
        trello.state.member(STUDENT)["id"],
    }
    assert [m["username"] for m in trello.port.board_members(b.other)] == ["mentor"]


# --- the actions feed --------------------------------------------------------------------


def test_feed_has_every_type_oldest_first_and_nothing_else(trello: Trello) -> None:
    b = build_board(trello.state)
    expected = feed_of(trello.state, b.id)
    assert {a["type"] for a in expected} == FEED_TYPES  # the board really has them all
    for page_size in (1000, 3, 1):
        got = trello.port.board_actions(b.id, page_size=page_size)
        assert got == expected, f"page_size={page_size}"
    assert got == sorted(got, key=order_key)
    assert len(set(ids(got))) == len(got)
    by_type = {a["type"]: a for a in got}
    assert set(by_type) == FEED_TYPES  # createList, updateList, updateCustomFieldItem… left out
    move = next(a for a in got if a["type"] == "updateCard" and "listAfter" in a["data"])
    assert "list" not in move["data"] and move["data"]["old"] == {"idList": b.lists["To do"]}
    assert by_type["moveCardToBoard"]["data"]["boardSource"] == {"id": b.other}
    assert by_type["moveCardFromBoard"]["data"]["boardTarget"] == {"id": b.other}
    assert by_type["copyCard"]["data"]["cardSource"]["id"] == b.cards["alice"]
    assert by_type["convertToCardFromCheckItem"]["data"]["cardSource"]["id"] == b.cards["alice"]
    # the short link resolves to the same feed
    assert trello.port.board_actions(b.short_link) == expected


def test_feed_reports_progress_after_each_page(trello: Trello) -> None:
    b = build_board(trello.state)
    expected = feed_of(trello.state, b.id)
    calls: list[tuple[int, str | None]] = []
    trello.port.board_actions(b.id, page_size=4, on_page=lambda n, d: calls.append((n, d)))
    assert len(calls) == len(expected) // 4 + 1
    assert [n for n, _ in calls] == sorted(n for n, _ in calls)
    assert calls[-1] == (len(expected), expected[0]["date"])


def test_feed_pages_arrive_one_request_at_a_time_newest_first(trello: Trello) -> None:
    b = build_board(trello.state)
    expected = feed_of(trello.state, b.id)
    pages = trello.port.board_action_pages(b.id, page_size=4)
    first = next(pages)
    assert ids(first) == ids(expected[::-1][:4])  # the newest page, newest first
    rest = [action for page in pages for action in page]
    got = {a["id"]: a for a in first + rest}
    assert sorted(got.values(), key=order_key) == expected
    assert len(first) + len(rest) == len(expected)  # no boundary read twice here


def test_since_an_action_id_or_a_date_leaves_older_actions_out(trello: Trello) -> None:
    b = build_board(trello.state)
    expected = feed_of(trello.state, b.id)
    k = len(expected) // 2
    pivot = expected[k]
    assert trello.port.board_actions(b.id, since=pivot["id"]) == expected[k + 1 :]
    assert trello.port.board_actions(b.id, since=pivot["id"], page_size=2) == expected[k + 1 :]

    by_date = trello.port.board_actions(b.id, since=pivot["date"], page_size=2)
    # Whether Trello's `since` includes its boundary is unconfirmed: only assert around it.
    assert [a for a in by_date if a["date"] != pivot["date"]] == [
        a for a in expected if a["date"] > pivot["date"]
    ]
    between = format_date(at(65))  # no action at that instant
    assert trello.port.board_actions(b.id, since=between) == [
        a for a in expected if a["date"] > between
    ]
    assert trello.port.board_actions(b.id, since=expected[-1]["id"]) == []


# --- the history in time slices -------------------------------------------------------


def _concat(slices: list[list[Json]]) -> list[Json]:
    for piece in slices:
        assert piece == sorted(piece, key=order_key), "a slice out of order"
    return [action for piece in slices for action in piece]


def test_history_slices_of_a_small_board_are_its_feed_in_one_request(trello: Trello) -> None:
    b = build_board(trello.state)
    expected = feed_of(trello.state, b.id)
    seen: list[tuple[int, str | None]] = []
    slices = list(trello.port.board_history_slices(b.id, on_page=lambda n, d: seen.append((n, d))))
    assert slices == [expected]  # every type, the same copies, oldest first, once
    assert len(seen) == 1  # one request: the newest page held it all
    assert list(trello.port.board_history_slices(b.short_link)) == [expected]


def test_history_slices_of_a_long_history_hand_it_over_oldest_first_once(
    trello: Trello,
) -> None:
    board, _, card = long_history(trello.state, 2600)
    for i in range(400):  # a crowd in one millisecond, somewhere in the middle
        trello.state.comment(MENTOR, card, f"crowd {i}", at=at(1300))
    expected = feed_of(trello.state, board)
    pages: list[int] = []
    slices = list(trello.port.board_history_slices(board, on_page=lambda n, d: pages.append(n)))
    assert len(slices) >= 2
    got = _concat(slices)
    assert ids(got) == ids(expected)
    assert got == expected
    # Requests: close to plain paging's 4 pages (the slices aim at full pages).
    assert len(pages) <= 8
    assert pages[-1] >= len(expected)


def test_history_slices_between_two_dates(trello: Trello) -> None:
    board, _, _ = long_history(trello.state, 1500)
    expected = feed_of(trello.state, board)
    start, end = at(200), at(1200, ms=500)
    got = _concat(list(trello.port.board_history_slices(board, start=start, end=end)))
    low, high = format_date(start), format_date(end)
    assert got == [a for a in expected if low <= a["date"] < high]
    assert got[0]["date"] == low  # an action exactly at `start` is in
    tail = _concat(list(trello.port.board_history_slices(board, start=at(1400))))
    assert tail == [a for a in expected if a["date"] >= format_date(at(1400))]


def test_history_slices_of_an_unknown_board_are_not_found(trello: Trello) -> None:
    with pytest.raises(TrelloNotFound):
        next(iter(trello.port.board_history_slices(UNKNOWN_BOARD)))


def test_a_deleted_card_leaves_only_its_delete_card(trello: Trello) -> None:
    b = build_board(trello.state)
    got = trello.port.board_actions(b.id)
    gone = [a for a in got if _card_of(a) == b.cards["gone"]]
    assert [a["type"] for a in gone] == ["deleteCard"]
    assert "name" not in gone[0]["data"]["card"]
    assert gone[0]["data"]["card"]["id"] == b.cards["gone"]
    with pytest.raises(TrelloNotFound):
        trello.port.card_comments(b.cards["gone"])


def test_an_edited_comment_changes_in_place_and_a_deleted_one_vanishes(trello: Trello) -> None:
    b = build_board(trello.state)
    original, deleted = b.comments["edited"], b.comments["deleted"]
    for actions in (
        trello.port.board_actions(b.id),
        trello.port.card_comments(b.cards["alice"]),
    ):
        edited = [a for a in actions if a["id"] == original["id"]]
        assert len(edited) == 1
        assert edited[0]["date"] == original["date"]
        assert edited[0]["data"]["text"] == "/session 2h"
        assert edited[0]["data"]["dateLastEdited"] == format_date(at(160))
        assert deleted["id"] not in ids(actions)
        assert not {"updateComment", "deleteComment"} & {a["type"] for a in actions}


# --- the board as it is now --------------------------------------------------------------


def test_snapshot_has_all_lists_open_and_archived_cards_labels_and_fields(trello: Trello) -> None:
    s = trello.state
    b = build_board(s)
    snap = trello.port.board_snapshot(b.id)
    assert snap.board["id"] == b.id and snap.board["shortLink"] == b.short_link

    assert list(snap.lists) == s.board_lists(b.id, "all")
    assert {lst["name"]: lst["closed"] for lst in snap.lists} == {
        "To do": False,
        "Doing": False,
        "Done": False,
        "Old": True,
    }

    cards = {c["id"]: c for c in snap.cards}
    assert len(cards) == len(snap.cards)  # each card once
    assert cards == {c["id"]: c for c in s.board_cards(b.id, "all", custom_field_items=True)}
    present = {k for k, cid in b.cards.items() if cid in cards}
    assert present == {"alice", "bob", "copy", "incoming", "converted", "carla"}
    assert cards[b.cards["bob"]]["closed"] is True
    assert cards[b.cards["carla"]]["idList"] == b.lists["Old"]

    alice = cards[b.cards["alice"]]
    assert alice["labels"] == [
        {"id": b.labels["learn"], "idBoard": b.id, "name": "Learn how to learn", "color": "green"}
    ]
    items = {i["idCustomField"]: i for i in alice["customFieldItems"]}
    assert items[b.fields["project"]]["value"] == {"text": "Portfolio"}
    level = next(f for f in snap.custom_fields if f["id"] == b.fields["level"])
    senior = next(o["id"] for o in level["options"] if o["value"]["text"] == "Senior")
    assert items[b.fields["level"]]["idValue"] == senior
    assert [i["value"] for i in cards[b.cards["bob"]]["customFieldItems"]] == [{"number": "2.5"}]
    assert cards[b.cards["incoming"]]["customFieldItems"] == []  # no value: no item at all

    assert list(snap.custom_fields) == s.board_custom_fields(b.id)
    assert [(f["name"], f["type"]) for f in snap.custom_fields] == [
        ("Project", "text"),
        ("Level", "list"),
        ("Hours", "number"),
    ]


# --- comments ----------------------------------------------------------------------------


def test_card_comments_are_the_cards_comment_actions_oldest_first(trello: Trello) -> None:
    b = build_board(trello.state)
    got = trello.port.card_comments(b.cards["alice"])
    expected = trello.state.card_actions(b.cards["alice"], filter="commentCard", limit=1000)
    assert got == expected[::-1]
    assert [a["data"]["text"] for a in got] == ["Hello!", "/session 2h"]
    assert [a["memberCreator"]["username"] for a in got] == ["student", "mentor"]
    assert trello.port.card_comments(b.cards["bob"]) == []


def test_post_comment_returns_the_action_that_then_appears_in_the_feed(trello: Trello) -> None:
    b = build_board(trello.state)
    last = trello.port.board_actions(b.id)[-1]
    text = "Session recorded ✓ — 2 h\n[trello-sync:r-42]"
    posted = trello.port.post_comment(b.cards["alice"], text)
    assert posted["type"] == "commentCard"
    assert posted["data"]["text"] == text
    assert posted["data"]["card"]["id"] == b.cards["alice"]
    assert posted["data"]["board"]["id"] == b.id
    assert posted["idMemberCreator"] == trello.port.me()["id"]

    assert trello.port.board_actions(b.id, since=last["id"]) == [posted]
    assert trello.port.card_comments(b.cards["alice"])[-1] == posted
    assert trello.state.action(posted["id"]) == posted

    longest = trello.port.post_comment(b.cards["alice"], "x" * MAX_COMMENT)
    assert len(longest["data"]["text"]) == MAX_COMMENT


def test_a_comment_out_of_bounds_is_refused_and_nothing_is_posted(trello: Trello) -> None:
    b = build_board(trello.state)
    before = trello.state.all_actions()
    for text in ("", "x" * (MAX_COMMENT + 1)):
        # HttpTrello refuses before sending; the fake gets the sandbox's 400: both say
        # "refused", so the outbox gives the reply up instead of retrying it for ever.
        with pytest.raises(TrelloRefused):
            trello.port.post_comment(b.cards["alice"], text)
    assert trello.state.all_actions() == before


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [UNKNOWN_BOARD, "zZzZzZzZ"])
def test_an_unknown_board_is_not_found(trello: Trello, ref: str) -> None:
    build_board(trello.state)
    with pytest.raises(TrelloNotFound):
        trello.port.board(ref)
    with pytest.raises(TrelloNotFound):
        trello.port.board_actions(ref)
    with pytest.raises(TrelloNotFound):
        trello.port.board_snapshot(ref)


@pytest.mark.parametrize("ref", ["nosuchboard", "https:"])
def test_a_reference_that_is_no_id_nor_short_link_names_no_board(trello: Trello, ref: str) -> None:
    # Trello answers 400 "invalid id"; for a board looked up by its configured reference
    # that means the same as a 404: no board is known by it.
    build_board(trello.state)
    with pytest.raises(TrelloNotFound):
        trello.port.board(ref)


def test_an_unknown_card_is_not_found(trello: Trello) -> None:
    build_board(trello.state)
    with pytest.raises(TrelloNotFound):
        trello.port.card_comments(UNKNOWN_BOARD)
    before = trello.state.all_actions()
    with pytest.raises(TrelloNotFound):
        trello.port.post_comment(UNKNOWN_BOARD, "hello")
    assert trello.state.all_actions() == before


def test_a_board_the_token_cannot_see_is_an_auth_error(trello: Trello) -> None:
    b = build_board(trello.state)
    student = trello.for_token(trello.state.add_token(STUDENT))
    with pytest.raises(TrelloAuthError):
        student.board(b.other)
    with pytest.raises(TrelloAuthError):
        student.board_actions(b.other)
    with pytest.raises(TrelloAuthError):
        student.board_members(b.other)
    assert student.board(b.id)["id"] == b.id  # the student is a member of this one


def test_a_bad_token_is_an_auth_error_naming_the_setting_not_the_value(trello: Trello) -> None:
    b = build_board(trello.state)
    bad = "f" * 64
    revoked = trello.state.add_token(MENTOR)
    trello.state.revoke_token(revoked)
    calls: list[Callable[[TrelloPort], object]] = [
        lambda p: p.me(),
        lambda p: p.board(b.id),
        lambda p: p.board_members(b.id),
        lambda p: p.board_actions(b.id),
        lambda p: p.board_snapshot(b.id),
        lambda p: p.card_comments(b.cards["alice"]),
        lambda p: p.post_comment(b.cards["alice"], "hello"),
    ]
    before = trello.state.all_actions()
    for token in (bad, revoked):
        port = trello.for_token(token)
        for call in calls:
            with pytest.raises(TrelloAuthError) as err:
                call(port)
            assert "TRELLO_TOKEN" in str(err.value)
            assert token not in str(err.value) and token not in repr(err.value)
    assert trello.state.all_actions() == before


def test_recent_actions_of_many_boards_match_each_boards_own_feed(trello: Trello) -> None:
    b = build_board(trello.state)
    since = format_date(at(5))
    busy, _, _ = long_history(trello.state, 1000, start=at(200))
    quiet, _, _ = long_history(trello.state, 3, start=at(300))
    pages = trello.port.recent_actions_many(
        [(b.id, since), (b.other, since), (busy, since), (quiet, since)]
    )
    assert pages[busy] is None  # a full page: that board is paged alone
    for board_id in (b.id, b.other, quiet):
        every_type = pages[board_id]
        assert every_type is not None
        expected = trello.state.board_actions(board_id, filter="all", since=since, limit=1000)
        assert ids(every_type) == ids(sorted(expected, key=order_key))
        # Of those, the types the service reads are exactly what board_actions returns.
        assert [a for a in every_type if a["type"] in FEED_TYPES] == trello.port.board_actions(
            board_id, since=since
        )

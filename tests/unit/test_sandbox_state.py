"""SandboxState and FakeTrello: Trello's shapes and quirks, in memory."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from trello_sync.sandbox.demo_board import build_demo_board
from trello_sync.sandbox.shapes import BadRequest, Json, NotFound, Unauthorized, id_time
from trello_sync.sandbox.state import SandboxState
from trello_sync.trello.fake import FakeTrello
from trello_sync.trello.port import TrelloAuthError, TrelloNotFound

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


class Board:
    """A small board: a mentor, a student, lists A and B, a label, a text field."""

    def __init__(self) -> None:
        self.state = SandboxState(seed=7, clock=lambda: hours(1000))
        self.state.add_member("mentor", "Camille Martin")
        self.state.add_member("student", "Alice Nguyen")
        self.token = self.state.add_token("mentor")
        self.board = self.state.create_board("mentor", "Board", at=T0)
        self.state.add_board_member("mentor", self.board["id"], "student", at=T0)
        self.a = self.state.create_list("mentor", self.board["id"], "A", at=T0)["id"]
        self.b = self.state.create_list("mentor", self.board["id"], "B", at=T0)["id"]
        self.label = self.state.create_label(
            "mentor", self.board["id"], "Learn how to learn", "green"
        )
        self.field = self.state.create_custom_field("mentor", self.board["id"], "Project", "text")

    def card(self, name: str = "Alice", at: datetime = T0) -> str:
        return str(self.state.create_card("mentor", self.a, name, at=at)["id"])

    def actions(self, **query: object) -> list[Json]:
        return self.state.board_actions(self.board["id"], **query)  # type: ignore[arg-type]

    def of_type(self, kind: str) -> list[Json]:
        return self.actions(filter=kind, limit=1000)


@pytest.fixture
def b() -> Board:
    return Board()


def test_ids_embed_their_creation_second_and_sort_like_time(b: Board) -> None:
    late = b.card("Late", at=hours(5))
    early = b.card("Early", at=hours(1))  # created second, dated first
    assert id_time(late) == hours(5) and id_time(early) == hours(1)
    assert early < late
    for action in b.actions(limit=1000):
        assert re.fullmatch(r"[0-9a-f]{24}", action["id"])
        assert DATE_RE.match(action["date"])
        assert id_time(action["id"]) == datetime.fromisoformat(action["date"]).replace(
            microsecond=0
        )


def test_create_card_shape_and_envelope(b: Board) -> None:
    card_id = b.card()
    (action,) = b.of_type("createCard")
    assert set(action) >= {
        "id", "idMemberCreator", "type", "date", "data", "display", "memberCreator",
        "appCreator", "limits",
    }  # fmt: skip
    assert action["appCreator"] is None and action["limits"] == {}
    assert action["memberCreator"]["username"] == "mentor"
    assert action["memberCreator"]["initials"] == "CM"
    assert action["data"]["card"] == {
        "id": card_id,
        "name": "Alice",
        "idShort": 1,
        "shortLink": action["data"]["card"]["shortLink"],
    }
    assert len(action["data"]["card"]["shortLink"]) == 8
    assert action["data"]["list"] == {"id": b.a, "name": "A"}
    assert action["data"]["board"]["id"] == b.board["id"]


def test_a_list_move_has_list_before_and_after_and_no_data_list(b: Board) -> None:
    card_id = b.card()
    b.state.move_card("mentor", card_id, b.b, at=hours(1))
    (move,) = b.of_type("updateCard:idList")
    data = move["data"]
    assert "list" not in data
    assert data["listBefore"] == {"id": b.a, "name": "A"}
    assert data["listAfter"] == {"id": b.b, "name": "B"}
    assert data["old"] == {"idList": b.a}
    assert data["card"]["idList"] == b.b


def test_archive_unarchive_rename_and_desc_shapes(b: Board) -> None:
    card_id = b.card()
    b.state.archive_card("mentor", card_id, at=hours(1))
    b.state.unarchive_card("mentor", card_id, at=hours(2))
    b.state.rename_card("mentor", card_id, "Alice N.", at=hours(3))
    b.state.set_card_desc("mentor", card_id, "Project: X", at=hours(4))
    archive, unarchive, rename, desc = reversed(b.of_type("updateCard"))
    assert archive["data"]["old"] == {"closed": False} and archive["data"]["card"]["closed"]
    assert unarchive["data"]["old"] == {"closed": True}
    assert unarchive["data"]["card"]["closed"] is False
    assert rename["data"]["old"] == {"name": "Alice"}
    assert rename["data"]["card"]["name"] == "Alice N."
    assert desc["data"]["old"] == {"desc": ""} and desc["data"]["card"]["desc"] == "Project: X"
    for action in (archive, unarchive, rename, desc):
        assert action["data"]["list"] == {"id": b.a, "name": "A"}
    assert b.actions(filter="updateCard:closed", limit=1000) == [unarchive, archive]


def test_editing_a_comment_changes_the_same_action_in_place(b: Board) -> None:
    card_id = b.card()
    posted = b.state.comment("mentor", card_id, "/session", at=hours(1))
    edited = b.state.edit_comment("mentor", posted["id"], "/noshow", at=hours(30))
    (seen,) = b.of_type("commentCard")
    assert seen["id"] == posted["id"] == edited["id"]
    assert seen["date"] == posted["date"]
    assert seen["data"]["text"] == "/noshow"
    assert seen["data"]["dateLastEdited"] == "2026-10-06T15:00:00.000Z"
    assert not b.actions(filter="updateComment")
    with pytest.raises(Unauthorized):
        b.state.edit_comment("student", posted["id"], "hijack")


def test_a_deleted_comment_vanishes(b: Board) -> None:
    card_id = b.card()
    posted = b.state.comment("mentor", card_id, "/session", at=hours(1))
    b.state.delete_comment("mentor", posted["id"], at=hours(2))
    assert not b.of_type("commentCard")
    assert not b.actions(filter="deleteComment")
    with pytest.raises(NotFound):
        b.state.action(posted["id"])


def test_deleting_a_card_erases_its_history(b: Board) -> None:
    card_id = b.card()
    other = b.card("Bruno")
    b.state.move_card("mentor", card_id, b.b, at=hours(1))
    b.state.comment("mentor", card_id, "/session", at=hours(2))
    b.state.comment("mentor", other, "/session", at=hours(2))
    b.state.delete_card("mentor", card_id, at=hours(3))
    mine = [a for a in b.actions(limit=1000) if a["data"].get("card", {}).get("id") == card_id]
    (deleted,) = mine
    assert deleted["type"] == "deleteCard"
    assert set(deleted["data"]["card"]) == {"id", "idShort", "shortLink"}
    assert deleted["data"]["list"] == {"id": b.b, "name": "B"}
    assert len(b.of_type("commentCard")) == 1
    with pytest.raises(NotFound):
        b.state.card(card_id)


def test_labels_leave_no_action_and_show_on_the_card(b: Board) -> None:
    card_id = b.card()
    b.state.add_label("mentor", card_id, "Learn how to learn", at=hours(1))
    card = b.state.card(card_id)
    assert card["labels"] == [
        {
            "id": b.label["id"],
            "idBoard": b.board["id"],
            "name": "Learn how to learn",
            "color": "green",
        }
    ]
    assert card["idLabels"] == [b.label["id"]]
    b.state.remove_label("mentor", card_id, b.label["id"], at=hours(2))
    assert b.state.card(card_id)["labels"] == []
    types = {a["type"] for a in b.actions(limit=1000)}
    assert not types & {"addLabelToCard", "removeLabelFromCard", "updateCard"}


def test_custom_field_items_and_their_action(b: Board) -> None:
    card_id = b.card()
    b.state.set_custom_field("mentor", card_id, "Project", "Build a Python web app", at=hours(1))
    b.state.set_custom_field(
        "mentor", card_id, b.field["id"], {"value": {"text": "Y"}}, at=hours(2)
    )
    second, first = b.of_type("updateCustomFieldItem")
    assert first["data"]["customField"] == {"id": b.field["id"], "name": "Project", "type": "text"}
    assert first["data"]["old"] == {"value": None}
    assert second["data"]["old"] == {"value": {"text": "Build a Python web app"}}
    assert second["data"]["customFieldItem"]["value"] == {"text": "Y"}
    (item,) = b.state.card(card_id, custom_field_items=True)["customFieldItems"]
    assert item["idCustomField"] == b.field["id"] and item["modelType"] == "card"
    assert item["idModel"] == card_id and item["value"] == {"text": "Y"}
    assert "customFieldItems" not in b.state.card(card_id)
    b.state.set_custom_field("mentor", card_id, "Project", None, at=hours(3))
    assert b.state.card(card_id, custom_field_items=True)["customFieldItems"] == []


def test_list_custom_field_uses_id_value(b: Board) -> None:
    field = b.state.create_custom_field(
        "mentor", b.board["id"], "Level", "list", options=["1", "3"]
    )
    card_id = b.card()
    item = b.state.set_custom_field(
        "mentor", card_id, field["id"], {"idValue": field["options"][1]["id"]}
    )
    assert item["idValue"] == field["options"][1]["id"] and "value" not in item
    assert field["options"][0]["value"] == {"text": "1"}


def test_moving_and_copying_between_boards(b: Board) -> None:
    other = b.state.create_board("mentor", "Other", at=T0)
    target = b.state.create_list("mentor", other["id"], "Inbox", at=T0)["id"]
    card_id = b.card()
    copy = b.state.copy_card("mentor", card_id, b.b, at=hours(1))
    b.state.move_card_to_board("mentor", card_id, other["id"], at=hours(2))
    (copied,) = b.of_type("copyCard")
    assert copied["data"]["cardSource"]["id"] == card_id
    assert copied["data"]["card"]["id"] == copy["id"]
    assert copied["data"]["list"] == {"id": b.b, "name": "B"}
    (moved_from,) = b.of_type("moveCardFromBoard")
    assert moved_from["data"]["boardTarget"] == {"id": other["id"]}
    assert moved_from["data"]["list"] == {"id": b.a, "name": "A"}
    (moved_to,) = b.state.board_actions(other["id"], filter="moveCardToBoard")
    assert moved_to["data"]["boardSource"] == {"id": b.board["id"]}
    assert moved_to["data"]["list"] == {"id": target, "name": "Inbox"}
    assert b.state.card(card_id)["idBoard"] == other["id"]


def test_feed_is_newest_first_with_ties_broken_by_id(b: Board) -> None:
    card_id = b.card()
    for n in range(5):
        b.state.comment("mentor", card_id, f"same instant {n}", at=hours(1))
    feed = b.of_type("commentCard")
    assert [a["data"]["text"] for a in feed] == [f"same instant {n}" for n in range(4, -1, -1)]
    assert feed == sorted(feed, key=lambda a: (a["date"], a["id"]), reverse=True)


def test_since_and_before_are_strict_for_ids_and_dates(b: Board) -> None:
    card_id = b.card()
    posted = [b.state.comment("mentor", card_id, f"c{n}", at=hours(n + 1)) for n in range(5)]
    ids = [a["id"] for a in posted]

    def texts(**q: object) -> list[str]:
        return [a["data"]["text"] for a in b.actions(filter="commentCard", **q)]

    assert texts(since=ids[1]) == ["c4", "c3", "c2"]
    assert texts(before=ids[3]) == ["c2", "c1", "c0"]
    assert texts(since=ids[0], before=ids[4]) == ["c3", "c2", "c1"]
    assert texts(since=posted[2]["date"]) == ["c4", "c3"]
    assert texts(before="2026-10-05T12:00:00Z") == ["c1", "c0"]
    assert texts(since="2026-10-05") == ["c4", "c3", "c2", "c1", "c0"]
    with pytest.raises(BadRequest, match="since"):
        b.actions(since="yesterday")


def test_since_and_before_dates_together_bound_a_window(b: Board) -> None:
    card_id = b.card()
    posted = [b.state.comment("mentor", card_id, f"c{n}", at=hours(n + 1)) for n in range(6)]

    def texts(**q: object) -> list[str]:
        return [a["data"]["text"] for a in b.actions(filter="commentCard", **q)]

    # Both bounds dates, strict on both sides, in any ISO 8601 form.
    assert texts(since=posted[1]["date"], before=posted[4]["date"]) == ["c3", "c2"]
    assert texts(since="2026-10-05T11:30:00Z", before="2026-10-05T14:30:00.000+00:00") == [
        "c4",
        "c3",
        "c2",
    ]
    # A date on one side, an id on the other.
    assert texts(since=posted[0]["date"], before=posted[3]["id"]) == ["c2", "c1"]
    with pytest.raises(BadRequest, match="before"):
        b.actions(before="soon")


def test_limit_page_and_filter_rules(b: Board) -> None:
    card_id = b.card()
    for n in range(60):
        b.state.comment("mentor", card_id, f"c{n}", at=hours(n + 1))
    assert len(b.actions(filter="commentCard")) == 50  # the default limit
    assert [a["data"]["text"] for a in b.actions(filter="commentCard", limit=5, page=2)] == [
        f"c{n}" for n in range(49, 44, -1)
    ]
    assert b.actions(limit=0) == []
    with pytest.raises(BadRequest, match="invalid value for limit"):
        b.actions(limit=1001)
    with pytest.raises(BadRequest, match="page"):
        b.actions(limit=500, page=2)
    with pytest.raises(BadRequest, match="filter"):
        b.actions(filter="createCard,noSuchAction")
    both = b.actions(filter="createCard,commentCard", limit=1000)
    assert {a["type"] for a in both} == {"createCard", "commentCard"}


def test_boards_by_short_link_and_errors(b: Board) -> None:
    assert b.state.board(b.board["shortLink"])["id"] == b.board["id"]
    with pytest.raises(NotFound):
        b.state.board("0" * 24)
    with pytest.raises(BadRequest, match="invalid id"):
        b.state.board("nope")
    with pytest.raises(Unauthorized, match="invalid key"):
        b.state.authenticate("bad", b.token)
    with pytest.raises(Unauthorized, match="invalid token"):
        b.state.authenticate(b.state.api_key, "bad")
    assert b.state.authenticate(b.state.api_key, b.token) == b.state.member("mentor")["id"]


def test_comment_text_length(b: Board) -> None:
    card_id = b.card()
    with pytest.raises(BadRequest):
        b.state.comment("mentor", card_id, "")
    with pytest.raises(BadRequest):
        b.state.comment("mentor", card_id, "x" * 16385)
    assert b.state.comment("mentor", card_id, "x" * 16384)["type"] == "commentCard"


def test_lists_and_cards_filters(b: Board) -> None:
    open_card, closed_card = b.card("Open"), b.card("Closed")
    b.state.archive_card("mentor", closed_card, at=hours(1))
    b.state.set_list_closed("mentor", b.b, True, at=hours(1))
    assert [x["name"] for x in b.state.board_lists(b.board["id"])] == ["A"]
    assert [x["name"] for x in b.state.board_lists(b.board["id"], "all")] == ["A", "B"]
    assert [c["id"] for c in b.state.board_cards(b.board["id"])] == [open_card]
    assert [c["id"] for c in b.state.board_cards(b.board["id"], "closed")] == [closed_card]
    assert len(b.state.board_cards(b.board["id"], "all")) == 2


# --- FakeTrello --------------------------------------------------------------------------


def test_fake_pages_the_whole_history_oldest_first(b: Board) -> None:
    card_id = b.card()
    for n in range(2500):
        b.state.comment("mentor", card_id, f"c{n}", at=hours(1 + n // 7))  # shared instants
    fake = FakeTrello(b.state, b.token)
    pages: list[int] = []
    actions = fake.board_actions(b.board["id"], on_page=lambda n, oldest: pages.append(n))
    comments = [a for a in actions if a["type"] == "commentCard"]
    assert [a["data"]["text"] for a in comments] == [f"c{n}" for n in range(2500)]
    assert len({a["id"] for a in actions}) == len(actions) == 2501
    assert pages == [1000, 2000, 2501]
    newer = fake.board_actions(b.board["id"], since=comments[-3]["id"], page_size=1)
    assert [a["data"]["text"] for a in newer] == ["c2498", "c2499"]


def test_fake_snapshot_comments_post_and_errors(b: Board) -> None:
    open_card, closed_card = b.card("Open"), b.card("Closed")
    b.state.set_custom_field("mentor", open_card, "Project", "P", at=hours(1))
    b.state.archive_card("mentor", closed_card, at=hours(1))
    fake = FakeTrello(b.state, b.token)
    snap = fake.board_snapshot(b.board["shortLink"])
    assert snap.board["id"] == b.board["id"]
    assert {c["id"] for c in snap.cards} == {open_card, closed_card}
    assert all("customFieldItems" in c for c in snap.cards)
    assert [f["name"] for f in snap.custom_fields] == ["Project"]
    fake.post_comment(open_card, "first")
    posted = fake.post_comment(open_card, "second")
    assert posted["type"] == "commentCard" and posted["memberCreator"]["username"] == "mentor"
    assert [c["data"]["text"] for c in fake.card_comments(open_card)] == ["first", "second"]
    assert fake.me()["username"] == "mentor"
    with pytest.raises(TrelloNotFound):
        fake.board("0" * 24)
    with pytest.raises(TrelloAuthError, match="invalid token"):
        FakeTrello(b.state, "nope").me()


# --- the demo board ----------------------------------------------------------------------

TODAY = date(2026, 11, 28)
PARIS = ZoneInfo("Europe/Paris")


def _command_day(text: str, written: date) -> date:
    words = text.split()
    arg = words[1] if len(words) > 1 else ""
    if arg == "yesterday":
        return written - timedelta(days=1)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", arg):
        return date.fromisoformat(arg)
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})", arg):
        return date(written.year, int(m[2]), int(m[1]))
    return written


def test_demo_board_is_realistic_and_every_session_falls_on_an_active_day() -> None:
    state = SandboxState(seed=3)
    demo = build_demo_board(state, today=TODAY, tz=PARIS)
    assert [x["name"] for x in state.board_lists(demo.board_id)] == [
        "En attente", "Active", "En pause", "Handed off", "Notes",
    ]  # fmt: skip
    students = [c for c in state.board_cards(demo.board_id) if c["name"] != "Mentoring checklist"]
    assert 8 <= len(students) <= 10
    actions = state.board_actions(demo.board_id, limit=1000)
    texts = [a["data"]["text"] for a in actions if a["type"] == "commentCard"]
    for command in ("/noshow", "/late", "/cancel", "/undo", "/sesion", "/session yesterday"):
        assert any(t.startswith(command) for t in texts), command
    by_student = [a for a in actions if a["memberCreator"]["username"] == demo.student_username]
    assert any(a["data"].get("text") == "/session" for a in by_student)
    now = datetime.combine(TODAY, time(0), PARIS)
    assert all(datetime.fromisoformat(a["date"]) < now for a in actions)

    active = {"id": demo.list_ids["Active"]}
    for action in actions:
        text = action["data"].get("text", "")
        if (
            action["type"] != "commentCard"
            or action["idMemberCreator"] != state.member(demo.mentor_username)["id"]
        ):
            continue
        if not re.match(r"/(session|noshow|late|cancel)\b", text):
            continue
        written = datetime.fromisoformat(action["date"]).astimezone(PARIS)
        day = _command_day(text, written.date())
        assert day <= written.date(), text
        card_id = action["data"]["card"]["id"]
        for moment in (time(0, 0), time(23, 59)):
            when = datetime.combine(day, moment, PARIS).astimezone(UTC)
            assert _list_at(actions, card_id, when) == active["id"], (text, day)


def _list_at(actions: list[Json], card_id: str, when: datetime) -> str | None:
    current = None
    for action in sorted(actions, key=lambda a: (a["date"], a["id"])):
        if datetime.fromisoformat(action["date"]) > when:
            break
        if action["data"].get("card", {}).get("id") != card_id:
            continue
        if action["type"] == "createCard":
            current = action["data"]["list"]["id"]
        elif "listAfter" in action["data"]:
            current = action["data"]["listAfter"]["id"]
    return current

"""Readable board scripts for the planner's tests.

    create Alice in Waiting at 2026-11-01 09:00
    move Alice to Active at 2026-11-02 10:00
    comment Alice "/session 45m" at 2026-11-03 18:00
    comment Alice "/session" at 2026-11-04 18:00 by alice_student
    edit c1 "/noshow" at 2026-11-05 08:00        (c1: the first comment's label)
    archive Alice at ... / unarchive Alice at ... / delete Alice at ... / away Alice at ...

Each line becomes an action in Trello's own JSON shape, so the tests also go through
`parse_action`. Times are local to the script's time zone.
"""

from __future__ import annotations

import itertools
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from trello_sync.domain.actions import Action, format_instant, parse_action

BOARD_ID = "5f0000000000000000b0a4d1"
MENTOR = "camille"

_counter = itertools.count(1)


def object_id(at: datetime) -> str:
    return f"{int(at.timestamp()):08x}{next(_counter):016x}"


@dataclass
class BoardScript:
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Paris"))
    lists: dict[str, str] = field(default_factory=dict)  # name -> id
    cards: dict[str, str] = field(default_factory=dict)  # student -> card id
    card_list: dict[str, str] = field(default_factory=dict)  # student -> list name
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> action
    actions: list[dict[str, Any]] = field(default_factory=list)

    def run(self, script: str) -> list[Action]:
        """Run the script's lines; return the actions they produced (parsed)."""
        produced: list[dict[str, Any]] = []
        for line in script.strip().splitlines():
            if line.strip() and not line.strip().startswith("#"):
                produced.append(self._line(shlex.split(line)))
        return [parse_action(raw) for raw in produced]

    def _at(self, words: list[str]) -> datetime:
        index = words.index("at")
        local = datetime.fromisoformat(f"{words[index + 1]} {words[index + 2]}")
        return local.replace(tzinfo=self.tz).astimezone(UTC)

    def _by(self, words: list[str]) -> str:
        return words[words.index("by") + 1] if "by" in words else MENTOR

    def _list(self, name: str) -> dict[str, str]:
        if name not in self.lists:
            self.lists[name] = f"{len(self.lists) + 1:024x}"
        return {"id": self.lists[name], "name": name}

    def _envelope(self, kind: str, at: datetime, by: str, data: dict[str, Any]) -> dict[str, Any]:
        data.setdefault("board", {"id": BOARD_ID, "name": "Mentoring", "shortLink": "abcd1234"})
        action = {
            "id": object_id(at),
            "idMemberCreator": f"m-{by}",
            "type": kind,
            "date": format_instant(at),
            "data": data,
            "memberCreator": {"id": f"m-{by}", "username": by, "fullName": by.title()},
            "appCreator": None,
            "limits": {},
        }
        self.actions.append(action)
        return action

    def _card(self, student: str) -> dict[str, str]:
        return {"id": self.cards[student], "name": student, "idShort": "1", "shortLink": "c"}

    def _line(self, words: list[str]) -> dict[str, Any]:
        verb, at, by = words[0], self._at(words), self._by(words)
        if verb == "create":
            student, list_name = words[1], words[3]
            self.cards[student] = object_id(at)
            self.card_list[student] = list_name
            data = {"card": self._card(student), "list": self._list(list_name)}
            return self._envelope("createCard", at, by, data)
        student = words[1]
        if verb == "move":
            before, after = self._list(self.card_list[student]), self._list(words[3])
            self.card_list[student] = words[3]
            card = {**self._card(student), "idList": after["id"]}
            data = {
                "card": card,
                "listBefore": before,
                "listAfter": after,
                "old": {"idList": before["id"]},
            }
            return self._envelope("updateCard", at, by, data)
        if verb in ("archive", "unarchive"):
            closed = verb == "archive"
            card = {**self._card(student), "closed": closed}
            data = {
                "card": card,
                "old": {"closed": not closed},
                "list": self._list(self.card_list[student]),
            }
            return self._envelope("updateCard", at, by, data)
        if verb == "delete":
            card = {"id": self.cards[student], "idShort": "1", "shortLink": "c"}
            return self._envelope("deleteCard", at, by, {"card": card})
        if verb == "away":
            data = {
                "card": self._card(student),
                "boardTarget": {"id": "other"},
                "list": self._list(self.card_list[student]),
            }
            return self._envelope("moveCardFromBoard", at, by, data)
        if verb == "comment":
            data = {
                "text": words[2],
                "card": self._card(student),
                "list": self._list(self.card_list[student]),
            }
            action = self._envelope("commentCard", at, by, data)
            self.comments[f"c{len(self.comments) + 1}"] = action
            return action
        if verb == "edit":
            action = self.comments[student]
            action["data"]["text"] = words[2]
            action["data"]["dateLastEdited"] = format_instant(at)
            return action
        raise ValueError(f"unknown script verb {verb!r}")

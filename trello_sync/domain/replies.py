"""The service's comments on cards: derived ids, the marker, and the texts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from trello_sync.domain.commands import USAGE
from trello_sync.domain.ids import ReplyKind, action_of_source, reply_id_for
from trello_sync.domain.money import Money
from trello_sync.domain.records import Entry, Reply
from trello_sync.domain.rules import EntryKind
from trello_sync.domain.summary import MonthSummary, month_of

# The marker lets a restarted service see which replies Trello already shows, and makes
# sure the service never reads its own comment as a command.
MARKER_PREFIX = "[trello-sync ref:"
MARKER_PATTERN = re.compile(re.escape(MARKER_PREFIX) + r"([0-9a-f]{16})\]")

# Trello refuses a longer comment text. Measured here in UTF-16 code units (as JavaScript
# counts), never fewer than the characters: a reply fits however Trello counts.
MAX_COMMENT_LENGTH = 16_384

# How much of each piece of outside text a reply shows: every reply stays short, whatever
# a card's name or a comment holds.
NAME_LIMIT = 100  # a student's name (the card's name), a username
PROJECT_LIMIT = 100
REASON_LIMIT = 300  # why a command was refused: it may quote the command


# --- outside text in a reply ------------------------------------------------------------

# Characters that Trello's markdown, its mentions or its HTML act on, each replaced by a
# look-alike that reads the same to a person and means nothing to a renderer (a backslash
# escape would depend on what the renderer does with it).
_LOOK_ALIKES = str.maketrans(
    {
        "@": "\uff20",  # ＠: a mention notifies whoever it names
        "[": "\uff3b",  # ［ and ］: links, images, and the reply marker
        "]": "\uff3d",
        "<": "\u2039",  # ‹ and ›: HTML, autolinks, quotes
        ">": "\u203a",
        "`": "\u02cb",  # ˋ: code
        "*": "\u2217",  # ∗: emphasis, lists
        "_": "\uff3f",  # ＿: emphasis
        "~": "\u223c",  # ∼: strike-through
        "|": "\u01c0",  # ǀ: tables
        "#": "\uff03",  # ＃: headings
        "\\": "\uff3c",  # ＼: an escape of whatever the service writes next
    }
)
# Lone surrogates (JSON allows them) cannot be sent; bidirectional overrides and
# isolates would reorder the rest of the reply on screen; other control characters
# (newlines included) would start a new markdown block.
_SURROGATES = re.compile("[\ud800-\udfff]")
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
# A dot between two characters is how a domain looks (example.invalid, www.x, i❤.ws):
# linkifiers turn it into a link. A dot that ends a sentence or an initial stays.
_DOMAIN_DOT = re.compile(r"(?<=[^\s.])\.(?=[^\s.])")
# "www" then any dot, even the one the reply itself writes after an echoed text.
_WWW = re.compile(r"w{3,}", re.IGNORECASE)
_FULLWIDTH_W = str.maketrans({"w": "\uff57", "W": "\uff37"})
# An HTML character reference ("&#64;" is an @ once rendered).
_ENTITY = re.compile(r"&(?=#|[A-Za-z][A-Za-z0-9]*;)")
# What starts a markdown block when it begins a line (a list item, a setext heading).
_BLOCK_START = re.compile(r"^(?:([-+=])|([0-9]{1,9})([.)]))")
_BLOCK_LOOK_ALIKES = {"-": "\u2010", "+": "\uff0b", "=": "\uff1d", ".": "\u2024", ")": "\uff09"}


def echo(text: str, limit: int) -> str:
    """Outside text (a card's name, a project, a username, a command word, a refusal
    reason quoting the input), made safe to show in a reply, at most `limit` characters.

    Every piece of text the service does not write itself passes here before it enters a
    reply: it then mentions no one, renders as no link or markdown (whatever Trello's
    renderer does), holds no reply marker, and stays on one line. Ordinary names read as
    they are written ("Léa Dupont", "Jean-Marc O'Neil" come out unchanged)."""
    text = _SURROGATES.sub("\ufffd", text)
    text = _BIDI_CONTROLS.sub("", text)
    text = " ".join(_CONTROLS.sub(" ", text).split())
    if len(text) > limit:
        # Cut first: every substitution below keeps the length, and so sees the "…".
        text = text[: limit - 1].rstrip() + "…" if limit > 0 else ""
    text = text.replace("://", ":\uff0f\uff0f")  # ／／: no scheme, no link
    text = _ENTITY.sub("\uff06", text)  # ＆
    text = _DOMAIN_DOT.sub("\u2024", text)  # ․ (one dot leader)
    text = _WWW.sub(lambda m: m.group().translate(_FULLWIDTH_W), text)
    text = _BLOCK_START.sub(_block_look_alike, text)
    return text.translate(_LOOK_ALIKES)


def _block_look_alike(match: re.Match[str]) -> str:
    if match.group(1):
        return _BLOCK_LOOK_ALIKES[match.group(1)]
    return match.group(2) + _BLOCK_LOOK_ALIKES[match.group(3)]


# --- the reply as a whole ---------------------------------------------------------------


def marker(reply_id: str) -> str:
    return f"{MARKER_PREFIX}{reply_id}]"


def carries_marker(text: str | None) -> bool:
    """Whether a comment holds something like a reply's marker: then who wrote it decides
    whether it is the service's own (anyone can paste one)."""
    return text is not None and MARKER_PREFIX in text


def find_marker(text: str) -> str | None:
    """The reply id a comment carries: its last marker (a reply ends with its own; an
    older version could echo a card's name holding another one before it)."""
    found = _last_marker(text)
    return found.group(1) if found else None


def _last_marker(text: str) -> re.Match[str] | None:
    found = list(MARKER_PATTERN.finditer(text))
    return found[-1] if found else None


def make_reply(board_id: str, card_id: str, source: str, kind: ReplyKind, body: str) -> Reply:
    reply_id = reply_id_for(board_id, source, kind)
    text = fit_comment(f"🤖 {body}\n\n{marker(reply_id)}")
    return Reply(reply_id, board_id, card_id, action_of_source(source), kind, text)


def comment_length(text: str) -> int:
    """A text's length as Trello's limit counts it (see MAX_COMMENT_LENGTH)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def fit_comment(text: str) -> str:
    """A reply's text within MAX_COMMENT_LENGTH, its own marker (the last one) kept whole.

    An already-built text (a row an older version wrote) is shortened before its marker,
    with "…"; any marker before the reply's own (an older version echoed card names as
    they were) is made inert, so that the comment carries exactly one. A text that fits
    and carries one marker comes back unchanged."""
    own = _last_marker(text)
    if own is None:
        return _shorten(text, MAX_COMMENT_LENGTH)
    head, tail = text[: own.start()], text[own.start() :]
    if MARKER_PATTERN.search(head):
        head = MARKER_PATTERN.sub(lambda m: m.group().translate(_LOOK_ALIKES), head)
    if comment_length(head) + comment_length(tail) <= MAX_COMMENT_LENGTH:
        return head + tail
    mark = own.group()
    room = MAX_COMMENT_LENGTH - comment_length(mark) - 2
    return f"{_shorten(head.rstrip(), room)}\n\n{mark}"


def _shorten(text: str, room: int) -> str:
    """`text` in at most `room` code units, ending with "…" when it had to be cut."""
    if comment_length(text) <= room:
        return text
    cut = text[: max(room - 1, 0)]
    while (excess := comment_length(cut) - (room - 1)) > 0:
        # Each character is one or two code units: drop at least half the excess.
        cut = cut[: len(cut) - max(excess // 2, 1)]
    return cut.rstrip() + "…"


def _level(entry: Entry) -> str:
    project = echo(entry.project, PROJECT_LIMIT) if entry.project else "no project set"
    return f"Level {entry.level} ({project})"


@dataclass(frozen=True)
class MonthTotals:
    """A student's month as a reply shows it: the net sessions (and defenses), and the
    amount in the currency of the entry the reply is about."""

    month: str  # YYYY-MM
    sessions: int
    total: Money
    defenses: int = 0  # done defenses

    @classmethod
    def of(cls, entries: Iterable[Entry], day: date, currency: str) -> MonthTotals:
        """The month of `day` in `entries` (one student's). Sessions count in every
        currency; the amount is in `currency` only, as two currencies do not add up."""
        summary: MonthSummary[None] = MonthSummary.of(month_of(day), entries)
        total = summary.total
        return cls(summary.month, total.sessions, total.amount(currency), total.defenses_done)

    @property
    def counted(self) -> str:
        """`3 session(s)`, and the defenses when there are any."""
        defenses = f", {self.defenses} defense(s)" if self.defenses else ""
        return f"{self.sessions} session(s){defenses}"


STATUS_WORDS = {
    "done": "Session",
    "noshow": "No-show",
    "late": "Late cancellation",
    "cancel": "Cancellation",
}
DEFENSE_WORDS = {
    "done": "Defense",
    "noshow": "Defense no-show",
    "late": "Late-cancelled defense",
    "cancel": "Cancelled defense",
}
FEE_WORDS = "Monthly fee"
FUNDING_SHOWN = {"funded": "funded", "self": "self-funded"}  # unset: not said


def entry_words(entry: Entry) -> str:
    """What an entry is, as a reply names it: "Session", "Defense no-show", "Monthly fee"."""
    if entry.kind == EntryKind.FEE:
        return FEE_WORDS
    if entry.kind == EntryKind.DEFENSE:
        return DEFENSE_WORDS[entry.status]
    return STATUS_WORDS[entry.status]


# What a day's line of the Slack summary calls an entry, by `day_word_key`: a session by
# its status (as it always has), a defense and a monthly fee apart.
DAY_WORDS = {
    **STATUS_WORDS,
    **{f"defense_{status}": words for status, words in DEFENSE_WORDS.items()},
    "fee": FEE_WORDS,
}


def day_word_key(entry: Entry) -> str:
    if entry.kind == EntryKind.FEE:
        return "fee"
    if entry.kind == EntryKind.DEFENSE:
        return f"defense_{entry.status}"
    return str(entry.status)


def _funding(entry: Entry) -> str:
    shown = FUNDING_SHOWN.get(entry.funding)
    return f" · {shown}" if shown else ""


def joined(*parts: str) -> str:
    """Sentences of one reply, the empty ones left out."""
    return " ".join(part for part in parts if part)


def recorded_text(
    entry: Entry, totals: MonthTotals, corrected: bool = False, fees: str = ""
) -> str:
    """`fees`: the monthly fees this command recorded or reversed (fee_text), on a line
    of their own before the month's totals."""
    duration = f", {entry.duration_minutes} min" if entry.duration_minutes else ""
    verb = "corrected and recorded" if corrected else "recorded"
    flag = "" if entry.project else "\n⚠ No project on this card: paid at the default level."
    fee_line = f"{fees}\n" if fees else ""
    return (
        f"{entry_words(entry)} {verb}: {entry.session_date.isoformat()}{duration} · "
        f"{_level(entry)}{_funding(entry)} · {entry.amount} ({entry.share_percent}% of "
        f"{Money(entry.rate_cents, entry.currency)}).\n{fee_line}"
        f"{echo(entry.student, NAME_LIMIT)}, {totals.month}: {totals.counted}, "
        f"{totals.total}.{flag}"
    )


def fee_text(changed: Entry, original: Entry | None = None) -> str:
    """A monthly fee recorded (`original` None) or reversed (the reversal, and the fee)."""
    month = month_of(changed.session_date)
    shown = FUNDING_SHOWN.get(changed.funding)
    who = f" ({shown})" if shown else ""
    if original is None:
        return f"Monthly fee for {month} recorded: {changed.amount}{who}."
    return (
        f"The monthly fee for {month} ({original.amount}) is reversed ({changed.amount}): "
        "its condition no longer holds."
    )


def refused_text(
    reason: str, with_usage: bool = True, reversed_before: str = "", usage: str = USAGE
) -> str:
    """`reversed_before`: what the refused comment had logged before an edit, and is now
    reversed (see reversed_text), so that the reply says all that the edit changed."""
    also = f"\n{reversed_before}" if reversed_before else ""
    shown = f"\n{usage}" if with_usage else ""
    return f"Nothing recorded: {echo(reason, REASON_LIMIT)}.{also}{shown}"


def reversed_text(reversal: Entry, original: Entry) -> str:
    """The entry an edited comment had logged, now reversed (said beside the new reply)."""
    return (
        f"The {entry_words(original).lower()} of "
        f"{original.session_date.isoformat()} that this comment logged before is reversed "
        f"({reversal.amount})."
    )


def undone_text(reversal: Entry, original: Entry) -> str:
    return (
        f"Undone: the {entry_words(original).lower()} of "
        f"{original.session_date.isoformat()} ({original.amount}) is reversed "
        f"({reversal.amount})."
    )


def deleted_text(reversal: Entry, original: Entry) -> str:
    return (
        f"The comment that logged the {entry_words(original).lower()} of "
        f"{original.session_date.isoformat()} was deleted: the entry is reversed "
        f"({reversal.amount})."
    )


def uncommanded_text(reversal: Entry, original: Entry) -> str:
    """A command comment edited into plain text: its entry is reversed, like a deletion."""
    return (
        f"The comment that logged the {entry_words(original).lower()} of "
        f"{original.session_date.isoformat()} no longer reads as a command: the entry is "
        f"reversed ({reversal.amount})."
    )


def handoff_text(
    student: str, first_active: date | None, handed_off: date, sessions: int, total: Money
) -> str:
    since = first_active.isoformat() if first_active else "(never active)"
    return (
        f"Mentorship summary for {echo(student, NAME_LIMIT)}: {since} → "
        f"{handed_off.isoformat()}, {sessions} session(s), {total} in all."
    )


def cap_warning_text(count: int, cap: int) -> str:
    return (
        f"Heads-up: {count} active students, above the recommended maximum of {cap} "
        f"(about {count} h of sessions a week)."
    )


def pause_reminder_text(student: str, days: int, since: date) -> str:
    return (
        f"{echo(student, NAME_LIMIT)} has been paused for {days} days (since "
        f"{since.isoformat()}). A pause longer than two weeks must be announced to the "
        "platform, so that another mentor can take over for a while."
    )


def nudge_text(student: str, since: date, days: int) -> str:
    return (
        f"No session logged for {echo(student, NAME_LIMIT)} since {since.isoformat()} "
        f"({days} days). Log one with /session, or move the card to paused if the student "
        "is taking a break."
    )

"""Slack, as data: the daily summary, its Block Kit message, the alerts and their records.

Pure: no I/O and no clock. The shell (trello_sync/notify.py) reads the ledger, asks what
to say and when, posts, and writes back what these functions return.

The summary of a day D is what the worker posts the next morning: D's entries (by their
session's date, net of reversals: an entry undone is not shown), the month of D up to D
(the month summary's counts and amounts, per level), and, as the board stood at the end
of D, the active students against the cap, the students paused past the threshold and
the active students without a session for as long. A summary may go to a shared channel:
students are shown by first name unless full names are asked for, and amounts can be
left out. Every text from a board passes `echo` (as in the replies), so a card's name
mentions no one and makes no link or formatting in Slack either.

Slack's documented limits hold for every message built here, whatever the ledger holds:
at most 50 blocks, 3,000 characters in a section's text, 150 in the header; the
top-level `text` (the fallback shown in notifications, and by Slack-compatible servers
that ignore blocks) is kept within 4,000 characters.

Exactly once, with several workers on one ledger, is built on records that only change
by compare-and-set: a worker claims a day's summary (or an alert's message) before it
posts, for a time that outlasts any post, and records it done after. A claim that ran
out belongs to a worker that stopped while posting: that message may have gone, so it
is never posted again (a double in a shared channel is worse than one missed line).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from trello_sync.domain.money import Money
from trello_sync.domain.records import CardRecord, Entry, StageMove
from trello_sync.domain.replies import DAY_WORDS, day_word_key, echo
from trello_sync.domain.stages import Stage
from trello_sync.domain.summary import LevelKey, MonthSummary, Tally, level_key, month_of

# Slack's limits (Block Kit reference) and the fallback's bound.
BLOCKS_MAX = 50
SECTION_MAX = 3000
HEADER_MAX = 150
FALLBACK_MAX = 4000
# How much of each outside text and list a message shows.
NAME_MAX = 40
BOARD_NAME_MAX = 60
PROBLEM_MAX = 300
LIST_MAX = 25  # lines of one list; the rest are counted in one line

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


# --- the webhook URL ------------------------------------------------------------------------


def webhook_problem(url: str) -> str | None:
    """Why `url` is not a usable webhook URL, never quoting it (it is a credential)."""
    if url != url.strip() or any(c.isspace() for c in url):
        return "holds white space; paste the webhook URL alone"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return "must start with https:// (or http://)"
    if not parts.hostname:
        return "has no host"
    try:
        parts.port  # noqa: B018 - reading it is what checks it
    except ValueError:
        return "has a port that is not a number"
    return None


def webhook_shown(url: str) -> str:
    """The URL as a message may show it: its scheme and host, never its path."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""  # never the netloc: it may hold a password
    return f"{parts.scheme}://{parts.hostname}{port}/…"


def webhook_secrets(url: str) -> list[str]:
    """What log lines must never show: the URL, its path (what urllib3 logs), and its last
    segment (the token of Slack, Mattermost and Rocket.Chat webhooks)."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    found = [url, path]
    if len(last) >= 8:  # a shorter one is a word, not a token
        found.append(last)
    return [s for s in found if s]


# --- the summary as data --------------------------------------------------------------------


@dataclass(frozen=True)
class DailyRules:
    tz: ZoneInfo
    cap: int  # the recommended maximum of active students
    pause_days: int  # paused longer than this is shown
    idle_days: int  # active without a session longer than this is shown
    amounts: bool  # show amounts
    full_names: bool  # students by full name (default: first name)


@dataclass(frozen=True)
class DayLine:
    name: str  # as shown (first or full name), not yet made inert
    status: str
    amount: Money


@dataclass(frozen=True)
class Waiting:
    """A student paused past the threshold, or active without a session as long."""

    name: str
    since: date
    days: int


@dataclass(frozen=True)
class BoardProblem:
    name: str
    problem: str


@dataclass(frozen=True)
class Daily:
    day: date
    lines: tuple[DayLine, ...]
    day_total: Tally
    month: str  # YYYY-MM, the month of `day`
    month_total: Tally  # the month up to `day`
    per_level: tuple[tuple[int, Tally], ...]
    currencies: tuple[str, ...]
    active: int
    cap: int
    paused: tuple[Waiting, ...]
    idle: tuple[Waiting, ...]
    boards: tuple[BoardProblem, ...]
    amounts: bool
    pause_days: int
    idle_days: int

    @property
    def quiet(self) -> bool:
        """Nothing to say: no entry that day and nothing that needs a look."""
        return not (self.lines or self.paused or self.idle or self.boards or self.active > self.cap)


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of the next local day: `day` is everything before it."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def shown_name(name: str, full_names: bool) -> str:
    """A student as the summary shows them: the first word of the card's name by default."""
    words = name.split()
    if not words:
        return "(no name)"
    if full_names:
        return " ".join(words)
    return words[0].strip(",;:·-–—") or words[0]


def _latest(
    moves: Iterable[StageMove], before: datetime | None = None
) -> dict[tuple[str, str], StageMove]:
    """Each card's latest move (before `before`), in the report's order of moves."""
    latest: dict[tuple[str, str], StageMove] = {}
    for move in moves:
        if before is not None and move.at >= before:
            continue
        key = (move.board_id, move.card_id)
        held = latest.get(key)
        if held is None or (move.at, move.source_action_id) >= (held.at, held.source_action_id):
            latest[key] = move
    return latest


def active_students(moves: Iterable[StageMove]) -> int:
    """Students whose latest move is into the active stage (what the report counts)."""
    return sum(1 for move in _latest(moves).values() if move.stage is Stage.ACTIVE)


def build_daily(
    day: date,
    cards: Iterable[CardRecord],
    moves: Iterable[StageMove],
    entries: Iterable[Entry],
    boards: Sequence[BoardProblem],
    rules: DailyRules,
    currency: str,
) -> Daily:
    """`currency`: today's rules', shown for a month without entries. `entries` is read
    once, as a stream."""
    end = day_end(day, rules.tz)
    month = month_of(day)
    summary: MonthSummary[LevelKey] = MonthSummary(month, lambda e: (level_key(e),))
    day_total = Tally()
    of_day: dict[str, Entry] = {}
    undone: set[str] = set()
    seen: dict[tuple[str, str], datetime] = {}  # a card's newest entry recorded by `end`
    names: dict[tuple[str, str], str] = {}
    for entry in entries:
        key = (entry.board_id, entry.card_id)
        names.setdefault(key, entry.student)
        if entry.session_date <= day:
            summary.add(entry)
        if entry.session_date == day:
            day_total.add(entry)
            if entry.reverses_entry_id is not None:
                undone.add(entry.reverses_entry_id)
            else:
                of_day[entry.entry_id] = entry
        if not entry.is_reversal and entry.recorded_at < end:
            seen[key] = max(seen.get(key, entry.recorded_at), entry.recorded_at)
    for card in cards:
        names[(card.board_id, card.card_id)] = card.name

    def name_of(key: tuple[str, str]) -> str:
        return shown_name(names.get(key, ""), rules.full_names)

    kept = [e for e in of_day.values() if e.entry_id not in undone]
    lines = sorted(
        (DayLine(name_of((e.board_id, e.card_id)), day_word_key(e), e.amount) for e in kept),
        key=lambda line: (line.name.casefold(), line.status, line.amount),
    )
    paused: list[Waiting] = []
    idle: list[Waiting] = []
    active = 0
    for key, move in _latest(moves, before=end).items():
        if move.stage is Stage.PAUSED:
            if end - move.at > timedelta(days=rules.pause_days):
                paused.append(_waiting(name_of(key), move.at, end, rules.tz))
        elif move.stage is Stage.ACTIVE:
            active += 1
            since = max(move.at, seen.get(key, move.at))
            if end - since > timedelta(days=rules.idle_days):
                idle.append(_waiting(name_of(key), since, end, rules.tz))
    per_level = sorted(
        (key.level, tally) for key, tally in summary.items() if isinstance(key, LevelKey)
    )
    return Daily(
        day=day,
        lines=tuple(lines),
        day_total=day_total,
        month=month,
        month_total=summary.total,
        per_level=tuple(per_level),
        currencies=summary.total.currencies or day_total.currencies or (currency,),
        active=active,
        cap=rules.cap,
        paused=tuple(sorted(paused, key=_longest_first)),
        idle=tuple(sorted(idle, key=_longest_first)),
        boards=tuple(boards),
        amounts=rules.amounts,
        pause_days=rules.pause_days,
        idle_days=rules.idle_days,
    )


_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: str, limit: int) -> str:
    """The service's own text (an error, a board's problem) on one line, at most `limit`
    characters. It names settings (`TRELLO_TOKEN`) as they are spelt, so it gets no
    look-alikes: Slack's `&`, `<` and `>` are escaped when it is sent, and that is all
    Slack needs to show it as text."""
    text = " ".join(_CONTROLS.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _waiting(name: str, since: datetime, end: datetime, tz: ZoneInfo) -> Waiting:
    return Waiting(name, since.astimezone(tz).date(), (end - since).days)


def _longest_first(waiting: Waiting) -> tuple[int, str]:
    return (-waiting.days, waiting.name.casefold())


# --- the summary as text and as a Slack message ----------------------------------------------


@dataclass(frozen=True)
class _Part:
    title: str
    lines: tuple[str, ...]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _money(tally: Tally, currencies: Sequence[str]) -> str:
    shown = [c for c in currencies if c in tally.cents] or list(currencies[:1])
    return " + ".join(str(tally.amount(currency)) for currency in shown)


def _capped(lines: Sequence[str], what: str) -> tuple[str, ...]:
    if len(lines) <= LIST_MAX:
        return tuple(lines)
    hidden = len(lines) - (LIST_MAX - 1)
    return (*lines[: LIST_MAX - 1], f"… and {hidden} more {what} (trello-sync report)")


def _parts(daily: Daily) -> list[_Part]:
    amounts, currencies = daily.amounts, daily.currencies

    def amount(tally: Tally) -> str:
        return f", {_money(tally, currencies)}" if amounts else ""

    count = len(daily.lines)
    day_lines = [
        f"{echo(line.name, NAME_MAX)} — {DAY_WORDS.get(line.status, line.status)}"
        + (f" — {line.amount}" if amounts else "")
        for line in daily.lines
    ]
    head = _plural(count, "entry", "entries") + (amount(daily.day_total) if count else "")
    parts = [_Part(f"{daily.day.isoformat()}: {head}", _capped(day_lines, "entries"))]

    year, month = (int(p) for p in daily.month.split("-"))
    total = daily.month_total
    levels = [
        f"Level {level}: {_plural(tally.sessions, 'session', 'sessions')}{amount(tally)}"
        for level, tally in daily.per_level
    ]
    sessions = _plural(total.sessions, "session", "sessions")
    parts.append(_Part(f"{MONTHS[month - 1]} {year} so far: {sessions}{amount(total)}", (*levels,)))

    over = " — above the recommended maximum" if daily.active > daily.cap else ""
    parts.append(_Part(f"Active students: {daily.active} / {daily.cap}{over}", ()))
    if daily.paused:
        paused = [
            f"{echo(p.name, NAME_MAX)} — paused since {p.since.isoformat()} ({p.days} days)"
            for p in daily.paused
        ]
        parts.append(
            _Part(f"Paused for more than {daily.pause_days} days", _capped(paused, "students"))
        )
    if daily.idle:
        idle = [
            f"{echo(i.name, NAME_MAX)} — last seen {i.since.isoformat()} ({i.days} days)"
            for i in daily.idle
        ]
        parts.append(
            _Part(
                f"Active, no session for more than {daily.idle_days} days",
                _capped(idle, "students"),
            )
        )
    if daily.boards:
        boards = [
            f"{echo(b.name, BOARD_NAME_MAX)}: {plain(b.problem, PROBLEM_MAX)}" for b in daily.boards
        ]
        parts.append(_Part("Boards with a problem", _capped(boards, "boards")))
    return parts


def summary_title(daily: Daily) -> str:
    return f"Daily summary — {WEEKDAYS[daily.day.weekday()]} {daily.day.isoformat()}"


def summary_text(daily: Daily) -> str:
    """The summary as plain text: the terminal's, and the message's fallback before escaping."""
    out = [summary_title(daily)]
    for part in _parts(daily):
        out.append("")
        out.append(part.title)
        out += [f"• {line}" for line in part.lines]
    return "\n".join(out)


def mrkdwn(text: str) -> str:
    """Slack's three control characters escaped, as its formatting reference asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _shortened(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a line's end when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    newline = cut.rfind("\n")
    if newline > limit // 2:
        cut = cut[:newline]
    return cut.rstrip() + "…"


def _sections(part: _Part) -> list[str]:
    """A part's texts, each within a section's limit: its lines packed in order."""
    texts: list[str] = []
    current = f"*{mrkdwn(part.title)}*"
    for line in part.lines:
        item = _shortened(f"• {mrkdwn(line)}", SECTION_MAX - 1)
        if len(current) + 1 + len(item) > SECTION_MAX:
            texts.append(current)
            current = item
        else:
            current += "\n" + item
    texts.append(current)
    return texts


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def summary_payload(daily: Daily) -> dict[str, Any]:
    """The Block Kit message, with its plain-text fallback, within Slack's limits."""
    title = summary_title(daily)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_MAX]}}
    ]
    for part in _parts(daily):
        blocks += [_section(text) for text in _sections(part)]
    if len(blocks) > BLOCKS_MAX:
        dropped = len(blocks) - (BLOCKS_MAX - 1)
        blocks = [*blocks[: BLOCKS_MAX - 1], _section(f"… {dropped} more blocks not shown")]
    return {"text": _shortened(mrkdwn(summary_text(daily)), FALLBACK_MAX), "blocks": blocks}


def alert_payload(text: str) -> dict[str, Any]:
    """One alert line as a message: the same text as its fallback and its one section."""
    shown = mrkdwn(text)
    return {
        "text": _shortened(shown, FALLBACK_MAX),
        "blocks": [_section(_shortened(shown, SECTION_MAX))],
    }


def payload_problems(payload: Mapping[str, Any]) -> list[str]:
    """Where a message breaks Slack's documented limits (none for what is built here)."""
    problems: list[str] = []
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append("no top-level text (the fallback Slack requires with blocks)")
    elif len(text) > FALLBACK_MAX:
        problems.append(f"top-level text of {len(text)} characters")
    blocks = payload.get("blocks", [])
    if not isinstance(blocks, list):
        return [*problems, "blocks is not a list"]
    if len(blocks) > BLOCKS_MAX:
        problems.append(f"{len(blocks)} blocks, more than {BLOCKS_MAX}")
    for n, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        inner = block.get("text") if isinstance(block, dict) else None
        if kind not in ("header", "section") or not isinstance(inner, dict):
            problems.append(f"block {n}: not a header or a section with a text")
            continue
        value = inner.get("text")
        limit = HEADER_MAX if kind == "header" else SECTION_MAX
        wanted = "plain_text" if kind == "header" else "mrkdwn"
        if inner.get("type") != wanted:
            problems.append(f"block {n}: a {kind}'s text must be {wanted}")
        if not isinstance(value, str) or not value.strip():
            problems.append(f"block {n}: empty text")
        elif len(value) > limit:
            problems.append(f"block {n}: {len(value)} characters, more than {limit}")
    return problems


# --- alerts: what to say, once per occurrence ----------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What one check of a condition found: `raised` is the alert's line while the
    condition holds (None: it does not), `cleared` the line said when it stops."""

    key: str
    raised: str | None
    cleared: str


def board_observation(ref: str, name: str, flag: str | None, unknown: str | None) -> Observation:
    """A board flagged (it suddenly shows nothing: lost access, emptied), or one Trello no
    longer shows this token."""
    shown = echo(name or ref, BOARD_NAME_MAX)
    raised = None
    if unknown is not None:
        raised = f"⚠️ Board {shown} cannot be read: {plain(unknown, PROBLEM_MAX)}"
    elif flag is not None:
        raised = f"⚠️ Board {shown} is flagged, nothing recorded: {plain(flag, PROBLEM_MAX)}"
    return Observation(f"board:{ref}", raised, f"✅ Board {shown} syncs again.")


def board_gone(ref: str, setting: str) -> Observation:
    """A board with an alert that is no longer configured: its alert ends."""
    shown = echo(ref, BOARD_NAME_MAX)
    return Observation(f"board:{ref}", None, f"✅ Board {shown} is no longer synced ({setting}).")


def token_observation(rejected: str | None) -> Observation:
    raised = None
    if rejected is not None:
        raised = (
            f"⚠️ Trello rejected the key or token: {plain(rejected, PROBLEM_MAX)}. The worker "
            "stopped; nothing is synced until it is fixed and the worker started again."
        )
    return Observation("token", raised, "✅ Trello accepts the key and token again.")


def export_observation(failures: int, reason: str | None, night: date | None) -> Observation:
    """`failures`: failed tries of the nightly export since the last night recorded."""
    raised = None
    if failures >= 2:
        raised = (
            f"⚠️ The nightly export failed {failures} times in a row "
            f"(last: {plain(reason or 'unknown', PROBLEM_MAX)}); it is tried again every "
            "10 minutes."
        )
    done = f" (the night of {night.isoformat()} is exported)" if night is not None else ""
    return Observation("export", raised, f"✅ The nightly export works again{done}.")


def cap_observation(active: int, cap: int, setting: str) -> Observation:
    raised = None
    if active > cap:
        raised = f"⚠️ {active} active students, above the recommended maximum of {cap} ({setting})."
    return Observation(
        "cap", raised, f"✅ {active} active students: back within the recommended {cap}."
    )


@dataclass(frozen=True)
class Outgoing:
    """A message waiting to be posted; `owner` and `until` while a worker posts it."""

    id: int
    text: str
    owner: str | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AlertState:
    active: Mapping[str, str] = field(default_factory=dict)  # key -> the alert's line
    outbox: tuple[Outgoing, ...] = ()
    seq: int = 0  # the last message id given


OUTBOX_MAX = 50  # messages kept while Slack is unreachable; the oldest go first


def observe(state: AlertState, observations: Iterable[Observation]) -> AlertState:
    """The new state: an alert raised once when its condition starts, a line when it ends,
    nothing while it lasts. Keys not observed are left as they are."""
    active = dict(state.active)
    outbox = list(state.outbox)
    seq = state.seq
    for seen in observations:
        was = seen.key in active
        if seen.raised is not None and not was:
            active[seen.key] = seen.raised
            seq += 1
            outbox.append(Outgoing(seq, seen.raised))
        elif seen.raised is None and was:
            del active[seen.key]
            seq += 1
            outbox.append(Outgoing(seq, seen.cleared))
    return AlertState(active, tuple(outbox[-OUTBOX_MAX:]), seq)


def stale_board_keys(state: AlertState, configured: Iterable[str]) -> list[str]:
    """Boards with an active alert that are no longer configured (their refs)."""
    wanted = set(configured)
    refs = [key.removeprefix("board:") for key in state.active if key.startswith("board:")]
    return sorted(ref for ref in refs if ref not in wanted)


@dataclass(frozen=True)
class Claimed:
    state: AlertState  # to write before posting
    message: Outgoing | None  # the message to post now (None: none for this worker now)
    abandoned: tuple[Outgoing, ...]  # claims that ran out: maybe posted, never again


def claim_next(
    state: AlertState,
    owner: str,
    now: datetime,
    until: datetime,
    posted: frozenset[int] = frozenset(),
) -> Claimed:
    """The next message in order, claimed for `owner` until `until`; none while another
    worker's claim on the first one lasts. `posted`: ids this worker posted whose record
    failed (its own claims on them are finished, not posted again); its other claims are
    its own failed tries, taken again."""
    abandoned = tuple(
        m for m in state.outbox if m.owner is not None and m.owner != owner and _ran_out(m, now)
    )
    outbox = [
        m for m in state.outbox if m not in abandoned and not (m.owner == owner and m.id in posted)
    ]
    message = None
    if outbox and outbox[0].owner in (None, owner):
        message = replace(outbox[0], owner=owner, until=until)
        outbox[0] = message
    return Claimed(replace(state, outbox=tuple(outbox)), message, abandoned)


def _ran_out(message: Outgoing, now: datetime) -> bool:
    return message.until is None or message.until <= now


def finish(state: AlertState, message_id: int) -> AlertState:
    """The message is posted (or may have been): it leaves the outbox."""
    return replace(state, outbox=tuple(m for m in state.outbox if m.id != message_id))


def release(state: AlertState, message_id: int) -> AlertState:
    """The post failed: the message waits for the next try, unclaimed."""
    outbox = tuple(
        replace(m, owner=None, until=None) if m.id == message_id else m for m in state.outbox
    )
    return replace(state, outbox=outbox)


def encode_alerts(state: AlertState) -> str:
    return json.dumps(
        {
            "active": dict(sorted(state.active.items())),
            "outbox": [
                {
                    "id": m.id,
                    "text": m.text,
                    "owner": m.owner,
                    "until": m.until.isoformat() if m.until else None,
                }
                for m in state.outbox
            ],
            "seq": state.seq,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def decode_alerts(text: str | None) -> AlertState:
    """The recorded state; an unreadable one reads as none (its alerts are raised again
    rather than never)."""
    data = _json_object(text)
    try:
        active = {str(k): str(v) for k, v in dict(data.get("active") or {}).items()}
        outbox = tuple(
            Outgoing(
                int(m["id"]),
                str(m["text"]),
                str(m["owner"]) if m.get("owner") is not None else None,
                _instant(m.get("until")),
            )
            for m in list(data.get("outbox") or [])
        )
        return AlertState(active, outbox, int(data.get("seq") or 0))
    except (TypeError, ValueError, KeyError, AttributeError):
        return AlertState()


# --- the daily summary's record ---------------------------------------------------------------


@dataclass(frozen=True)
class SummaryClaim:
    day: date
    owner: str
    until: datetime


@dataclass(frozen=True)
class SummaryState:
    sent: date | None = None  # the latest day whose summary is done (posted, or quiet)
    claim: SummaryClaim | None = None  # a worker posting a summary now


@dataclass(frozen=True)
class SummaryStep:
    """What to do about a day's summary: `post` it (after writing `state`, which claims
    it), or not (`state` may still record an abandoned claim)."""

    post: bool
    state: SummaryState
    abandoned: date | None = None  # a day whose claim ran out: maybe posted, not again


def summary_step(
    state: SummaryState, day: date, owner: str, now: datetime, until: datetime
) -> SummaryStep:
    sent, claim = state.sent, state.claim
    abandoned = None
    if claim is not None and claim.owner != owner and claim.until <= now:
        abandoned = claim.day
        sent = claim.day if sent is None else max(sent, claim.day)
        claim = None
    if sent is not None and sent >= day:
        return SummaryStep(False, SummaryState(sent, claim), abandoned)
    if claim is not None and claim.owner != owner:
        return SummaryStep(False, SummaryState(sent, claim), abandoned)  # another posts it
    return SummaryStep(True, SummaryState(sent, SummaryClaim(day, owner, until)), abandoned)


def summary_done(state: SummaryState, day: date, owner: str) -> SummaryState:
    """`day`'s summary is done (posted, or there was nothing to say)."""
    sent = day if state.sent is None else max(state.sent, day)
    claim = state.claim if state.claim is not None and state.claim.owner != owner else None
    return SummaryState(sent, claim)


def summary_released(state: SummaryState, owner: str) -> SummaryState:
    """The post failed: this worker's claim goes, for the next try."""
    if state.claim is not None and state.claim.owner == owner:
        return SummaryState(state.sent, None)
    return state


def encode_summary(state: SummaryState) -> str:
    claim = state.claim
    return json.dumps(
        {
            "sent": state.sent.isoformat() if state.sent else None,
            "claim": None
            if claim is None
            else {
                "day": claim.day.isoformat(),
                "owner": claim.owner,
                "until": claim.until.isoformat(),
            },
        },
        sort_keys=True,
    )


def decode_summary(text: str | None) -> SummaryState:
    """The recorded state; an unreadable one reads as none (a summary again, not never)."""
    data = _json_object(text)
    try:
        sent = date.fromisoformat(data["sent"]) if data.get("sent") else None
        raw = data.get("claim")
        claim = None
        if isinstance(raw, dict):
            until = _instant(raw.get("until"))
            if until is not None:
                claim = SummaryClaim(date.fromisoformat(raw["day"]), str(raw["owner"]), until)
        return SummaryState(sent, claim)
    except (TypeError, ValueError, KeyError):
        return SummaryState()


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T")


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not _ISO.match(value):
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else None

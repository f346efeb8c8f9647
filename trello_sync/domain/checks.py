"""Checks: plain functions from gathered facts to findings (run by `check` and the tests).

`trello-sync check` first gathers every fact it needs (the reads of the ledger, the export
folder and Trello, in trello_sync/checkup.py), into the frozen data below; then it runs
CHECKS over them, one after another. A check only judges: it reads no file, no network
and no clock, so each can be tested with data in and findings out. A fact that could not
be gathered is an `Unavailable` in place of the fact, reported by the check that owns it;
a check that crashes is one problem naming it, and the checks after it still run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from trello_sync.domain.money import format_cents
from trello_sync.domain.records import Entry
from trello_sync.domain.rules import Funding, PayRules
from trello_sync.domain.stages import Stage, StageMap
from trello_sync.domain.text import fold
from trello_sync.domain.webhooks import WebhookFacts, plan_registrations, registration_for

ERROR_MAX = 300  # characters of an unexpected error shown in its one line


class Kind(StrEnum):
    PROBLEM = "problem"  # something to fix: `check` exits 2
    NOTE = "note"  # a confirmation, or something worth knowing


@dataclass(frozen=True)
class Finding:
    kind: Kind
    subject: str  # what it is about (a setting, "ledger", "board 'X'"); "" if text names it
    text: str

    @property
    def line(self) -> str:
        return f"{self.subject}: {self.text}" if self.subject else self.text


def problem(subject: str, text: str) -> Finding:
    return Finding(Kind.PROBLEM, subject, text)


def note(subject: str, text: str) -> Finding:
    return Finding(Kind.NOTE, subject, text)


def error_line(error: BaseException) -> str:
    """An unexpected error as one line: its type and message, shortened."""
    message = " ".join(str(error).split())
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


# --- the facts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Unavailable:
    """A fact that could not be gathered, and why: one problem line."""

    subject: str
    reason: str

    def finding(self) -> Finding:
        return problem(self.subject, self.reason)


@dataclass(frozen=True)
class ConfigFacts:
    boards: tuple[str, ...]
    mentors: tuple[str, ...]  # empty: the token's owner
    stages: StageMap
    rules: PayRules | None  # None: they cannot price every session (see rule_problems)
    today: date  # in the configured zone: which pay rules are in force
    boards_setting: str  # the settings' names, for the lines that point at them
    mentors_setting: str
    rule_problems: tuple[str, ...] = ()  # why the pay rules are refused, one line each


@dataclass(frozen=True)
class LedgerFacts:
    setting: str  # the setting that names the ledger
    shown: str  # where it is, as a message shows it (no password)
    readable_version: int  # the schema this trello-sync reads
    location_problem: str | None = None  # why it cannot be written there; then nothing more
    exists: bool = True
    schema_version: int | None = None
    entries: tuple[Entry, ...] | None = None  # read only at the readable schema


@dataclass(frozen=True)
class ExportFolder:
    problem: str | None  # the whole line (it names the setting), or None: it can be written


@dataclass(frozen=True)
class ListSeen:
    name: str
    closed: bool


@dataclass(frozen=True)
class BoardSeen:
    ref: str  # as configured
    name: str
    lists: tuple[ListSeen, ...]  # open and archived
    cards: int
    # Usernames of its members: asked only when mentors are configured (a request each).
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrelloFacts:
    owner: str  # username of the token's owner: the key and the token work
    # In the configured order; a board that could not be read is Unavailable.
    boards: tuple[BoardSeen | Unavailable, ...] = ()
    # Trello failed part-way (unavailable, the network): the boards after it were not read.
    stopped: Unavailable | None = None


@dataclass(frozen=True)
class SlackFacts:
    """The webhook's URL as a line may show it (scheme and host), never the URL itself."""

    setting: str
    shown: str | None  # None: not set (or not shown: see `problem`)
    problem: str | None = None  # why it is not a usable URL


@dataclass(frozen=True)
class CheckFacts:
    config: ConfigFacts | Unavailable
    ledger: LedgerFacts | Unavailable
    export_folder: ExportFolder | Unavailable
    trello: TrelloFacts | Unavailable
    slack: SlackFacts | Unavailable | None = None  # None: not asked
    webhooks: WebhookFacts | Unavailable | None = None  # None: not asked


# --- the checks ---------------------------------------------------------------------------


def list_mapping(lists: Iterable[ListSeen], stages: StageMap) -> tuple[list[str], list[str]]:
    """(problems, notes) about how a board's open lists map to stages."""
    problems: list[str] = []
    notes: list[str] = []
    mapped: set[Stage] = set()
    for item in lists:
        if item.closed:
            continue
        stage = stages.stage_of(item.name)
        if stage is Stage.UNMAPPED:
            notes.append(f"list {item.name!r} maps to no stage: its cards are ignored")
        else:
            mapped.add(stage)
    if Stage.ACTIVE not in mapped:
        problems.append(
            "no open list maps to the active stage: every session would be refused "
            "(name a list 'Active' or add an alias under [stages])"
        )
    return problems, notes


def ledger_problems(entries: Iterable[Entry]) -> list[str]:
    """Integrity of the append-only ledger: reversals point at entries and cancel them."""
    by_id: dict[str, Entry] = {}
    reversals: list[Entry] = []
    problems: list[str] = []
    for entry in entries:
        if entry.entry_id in by_id:
            problems.append(f"entry {entry.entry_id} appears twice")
        by_id[entry.entry_id] = entry
        if entry.is_reversal:
            reversals.append(entry)
    reversed_ids: set[str] = set()
    for reversal in reversals:
        target_id = reversal.reverses_entry_id or ""
        target = by_id.get(target_id)
        if target is None:
            problems.append(f"entry {reversal.entry_id} reverses unknown entry {target_id}")
            continue
        if target_id in reversed_ids:
            problems.append(f"entry {target_id} is reversed twice")
        reversed_ids.add(target_id)
        if reversal.amount_cents != -target.amount_cents or reversal.currency != target.currency:
            problems.append(f"entry {reversal.entry_id} does not cancel {target_id}")
    return problems


def boards_configured(facts: CheckFacts) -> list[Finding]:
    config = facts.config
    if isinstance(config, Unavailable):
        return [config.finding()]
    return [] if config.boards else [problem(config.boards_setting, "no board configured")]


def ledger_state(facts: CheckFacts) -> list[Finding]:
    """Creates nothing: a ledger not there yet is a note; an older schema is not read."""
    ledger = facts.ledger
    if isinstance(ledger, Unavailable):
        return [ledger.finding()]
    if ledger.location_problem:
        return [problem(ledger.setting, ledger.location_problem)]
    if not ledger.exists:
        return [note("ledger", f"{ledger.shown} does not exist yet; the first sync creates it")]
    version = ledger.schema_version
    if version is None:
        return [problem("ledger", "its schema version is not known")]
    if version > ledger.readable_version:
        return [
            problem(
                ledger.setting,
                f"the ledger was written by a newer trello-sync (schema {version}); "
                "upgrade trello-sync",
            )
        ]
    if version < ledger.readable_version:
        # Its tables may not be what this version reads: nothing more is asked.
        upgrade = f"schema {version}; the next sync brings it up to {ledger.readable_version}"
        return [note("ledger", upgrade)]
    if ledger.entries is None:
        return [problem("ledger", "its entries were not read")]
    found = [problem("ledger", p) for p in ledger_problems(ledger.entries)]
    return found or [note("ledger", f"OK ({ledger.shown})")]


def export_folder(facts: CheckFacts) -> list[Finding]:
    folder = facts.export_folder
    if isinstance(folder, Unavailable):
        return [folder.finding()]
    return [problem("", folder.problem)] if folder.problem else []


def credentials(facts: CheckFacts) -> list[Finding]:
    trello = facts.trello
    if isinstance(trello, Unavailable):
        return [trello.finding()]
    return [note("credentials", f"OK, the token belongs to @{trello.owner}")]


def default_mentor(facts: CheckFacts) -> list[Finding]:
    """Names the default mentor. It is not checked against the boards: the token's owner
    can see each board (that is checked), and whether a non-member may comment is the
    board's own setting."""
    config, trello = facts.config, facts.trello
    if isinstance(config, Unavailable) or isinstance(trello, Unavailable) or config.mentors:
        return []  # an unavailable fact is reported by its own check
    return [
        note("mentors", f"the token's owner @{trello.owner} ({config.mentors_setting} is empty)")
    ]


def board_findings(board: BoardSeen, stages: StageMap, mentors: Sequence[str]) -> list[Finding]:
    """A board's lists against the stages, and whether each configured mentor is a member."""
    subject = f"board {board.name!r}"
    problems, notes = list_mapping(board.lists, stages)
    members = {fold(username) for username in board.members}
    problems += [
        f"mentor {mentor!r} is not a member of this board"
        for mentor in mentors
        if fold(mentor) not in members
    ]
    found = [note(subject, n) for n in notes] + [problem(subject, p) for p in problems]
    if not problems:
        found.append(note(subject, f"OK ({board.cards} cards)"))
    return found


def boards(facts: CheckFacts) -> list[Finding]:
    config, trello = facts.config, facts.trello
    if isinstance(config, Unavailable) or isinstance(trello, Unavailable):
        return []  # reported by boards_configured and credentials
    found: list[Finding] = []
    for board in trello.boards:
        if isinstance(board, Unavailable):
            found.append(board.finding())
        else:
            found += board_findings(board, config.stages, config.mentors)
    return found


def trello_stopped(facts: CheckFacts) -> list[Finding]:
    trello = facts.trello
    if isinstance(trello, Unavailable) or trello.stopped is None:
        return []
    return [trello.stopped.finding()]


_FEE_PAYERS = {
    None: "student",
    Funding.FUNDED: "funded student",
    Funding.SELF: "self-funded student",
    Funding.UNSET: "student of no funding",
}


def pay_rules_in_force(facts: CheckFacts) -> list[Finding]:
    """Every reason the pay rules cannot price a session (a gap, overlapping dates, a
    share outside 0–100 %, a currency changed without its own rule set), one problem
    line each naming its rule set; else the rates and monthly fees in force."""
    config = facts.config
    if isinstance(config, Unavailable):
        return []  # reported by boards_configured
    if config.rules is None or config.rule_problems:
        return [problem("pay_rules", line) for line in config.rule_problems] or [
            problem("pay_rules", "the pay rules cannot price every session")
        ]
    rule_set = config.rules.in_force(config.today)
    rates = ", ".join(
        f"L{level} {format_cents(cents)}" for level, cents in sorted(rule_set.rates.items())
    )
    fees = "".join(
        f"; monthly fee {format_cents(fee.amount_cents)} per {_FEE_PAYERS[fee.funding]} with "
        f"{fee.min_done_sessions}+ done session(s)"
        for fee in config.rules.fees_of_month(config.today).monthly_fees
    )
    return [note("pay rules in force", f"{rates} {rule_set.currency}{fees}")]


def slack_webhook(facts: CheckFacts) -> list[Finding]:
    """Whether the webhook is set and well formed; nothing is posted to find out."""
    slack = facts.slack
    if slack is None:
        return []
    if isinstance(slack, Unavailable):
        return [slack.finding()]
    if slack.problem is not None:
        return [problem(slack.setting, f"the webhook URL {slack.problem}")]
    if slack.shown is None:
        return [note("slack", f"{slack.setting} is not set: nothing is posted to Slack")]
    return [
        note(
            "slack",
            f"{slack.setting} is set and well formed ({slack.shown}); check posts nothing",
        )
    ]


def trello_webhooks(facts: CheckFacts) -> list[Finding]:
    """Each board's webhook as Trello lists it, and its consecutive failures. Notes only:
    a webhook Trello cannot deliver to leaves polling as it is, so it stops nothing."""
    hooks = facts.webhooks
    if hooks is None:
        return []
    if isinstance(hooks, Unavailable):
        return [hooks.finding()]
    url = hooks.callback_url
    if url is None:
        return []  # webhooks off: polling alone, as before they existed
    found: list[Finding] = []
    for name, board_id in hooks.boards:
        subject = f"board {name!r}"
        seen = registration_for(hooks.registrations, board_id, url)
        if seen is None:
            found.append(note(subject, f"no webhook at {url} yet: the worker creates it"))
        elif not seen.active:
            found.append(
                note(subject, f"webhook {seen.webhook_id} is paused: the worker re-activates it")
            )
        elif seen.consecutive_failures:
            since = f" since {seen.failing_since}" if seen.failing_since else ""
            found.append(
                note(
                    subject,
                    f"webhook {seen.webhook_id} active, {seen.consecutive_failures} consecutive "
                    f"failures{since}: Trello cannot reach {url}; polling goes on",
                )
            )
        else:
            found.append(
                note(subject, f"webhook {seen.webhook_id} active at {url}, 0 consecutive failures")
            )
    stale = plan_registrations(hooks.registrations, [b for _, b in hooks.boards], url).delete
    found += [
        note("webhooks", f"{s.webhook_id} ({s.callback_url}) is stale: the worker deletes it")
        for s in stale
    ]
    return found


Check = Callable[[CheckFacts], Sequence[Finding]]

# In the order their lines are printed.
CHECKS: tuple[Check, ...] = (
    boards_configured,
    ledger_state,
    export_folder,
    credentials,
    default_mentor,
    boards,
    trello_stopped,
    pay_rules_in_force,
    slack_webhook,
    trello_webhooks,
)


def check_name(check: Check) -> str:
    return str(getattr(check, "__name__", check))


def run_checks(
    facts: CheckFacts,
    checks: Sequence[Check] = CHECKS,
    on_crash: Callable[[str, Exception], None] | None = None,
) -> list[Finding]:
    """Every check's findings, in order. A check that raises is one problem naming it and
    the error (`on_crash` is told, for a traceback under --debug); the others still run."""
    findings: list[Finding] = []
    for check in checks:
        try:
            findings += check(facts)
        except Exception as error:  # a bug in one check must not hide the others' findings
            name = check_name(check)
            if on_crash is not None:
                on_crash(name, error)
            findings.append(problem(f"check {name}", error_line(error)))
    return findings

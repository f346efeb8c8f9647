"""`trello-sync check`: gather the facts (every read is here), then judge them with the
pure checks of trello_sync/domain/checks.py and print one line per finding.

Creates nothing: a ledger that does not exist yet is a note, an existing one is read as
it is (not migrated), and the export folder is tried without leaving anything behind.
A fact whose reading fails in a way no one foresaw is one problem line naming it (its
traceback under --debug), and the other facts are still read and judged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from trello_sync.app import make_trello
from trello_sync.clock import Clock
from trello_sync.domain.checks import (
    BoardSeen,
    CheckFacts,
    ConfigFacts,
    ExportFolder,
    Kind,
    LedgerFacts,
    ListSeen,
    SlackFacts,
    TrelloFacts,
    Unavailable,
    error_line,
    run_checks,
)
from trello_sync.domain.daily import webhook_problem, webhook_shown
from trello_sync.domain.rules import PayRules, PayRulesError
from trello_sync.domain.webhooks import Registration, UnreadableWebhook, WebhookFacts
from trello_sync.exits import EXIT_OK, EXIT_USAGE
from trello_sync.ledger.open import (
    ledger_exists,
    ledger_location_problem,
    open_ledger,
    shown_ledger,
)
from trello_sync.ledger.schema import LATEST_VERSION
from trello_sync.ledger.store import LedgerError
from trello_sync.logs import RedactSecrets
from trello_sync.preflight import export_dir_problem
from trello_sync.settings import ConfigError, Settings, env_name
from trello_sync.sync import board_not_found
from trello_sync.trello.client import HttpTrello
from trello_sync.trello.port import TrelloAuthError, TrelloError, TrelloNotFound
from trello_sync.trello.webhooks import TrelloWebhooks

log = logging.getLogger(__name__)

T = TypeVar("T")


def check(settings: Settings, clock: Clock) -> int:
    """One line per problem on standard error (exit 2 if any); notes on standard output."""
    findings = run_checks(gather(settings, clock), on_crash=_log_crash)
    # The reads word their errors without secrets; this holds the lines to it anyway.
    redact = RedactSecrets(settings.secret_values()).redact
    problems = [f for f in findings if f.kind is Kind.PROBLEM]
    for finding in findings:
        if finding.kind is Kind.NOTE:
            print(redact(finding.line))
    for finding in problems:
        print(f"problem: {redact(finding.line)}", file=sys.stderr)
    return EXIT_USAGE if problems else EXIT_OK


def gather(settings: Settings, clock: Clock) -> CheckFacts:
    """Every fact the checks judge, each read on its own: one that fails leaves the
    others to be read."""
    return CheckFacts(
        config=_read("the settings", lambda: _config(settings, clock)),
        ledger=_read("the ledger", lambda: _ledger(settings, clock)),
        export_folder=_read(
            "the export folder", lambda: ExportFolder(export_dir_problem(settings.export_dir))
        ),
        trello=_read("Trello", lambda: _trello(settings, clock)),
        slack=_read("the Slack webhook", lambda: _slack(settings)),
        webhooks=_read("Trello's webhooks", lambda: _webhooks(settings, clock)),
    )


def _webhooks(settings: Settings, clock: Clock) -> WebhookFacts | Unavailable:
    """The token's webhooks and the boards they should serve (nothing is registered)."""
    setting = env_name("webhook_listen")
    if not settings.webhooks_on or settings.webhook_url is None or settings.token is None:
        return WebhookFacts(setting, None)
    try:
        trello = make_trello(settings, clock)
    except ConfigError as error:
        return Unavailable("", str(error))
    try:
        listed = TrelloWebhooks(trello, settings.token.get_secret_value()).listed()
        boards: list[tuple[str, str]] = []
        for ref in settings.boards:
            try:
                board = trello.board(ref)
            except (TrelloNotFound, TrelloAuthError):
                continue  # said by the boards' own check
            boards.append((str(board.get("name") or ref), str(board["id"])))
        registrations = tuple(Registration.of(raw) for raw in listed)
    except (TrelloError, UnreadableWebhook) as error:
        return Unavailable("webhooks", str(error))
    finally:
        trello.close()
    return WebhookFacts(setting, settings.webhook_url, tuple(boards), registrations)


def _slack(settings: Settings) -> SlackFacts:
    setting = env_name("slack_webhook_url")
    if settings.slack_webhook_url is None:
        return SlackFacts(setting, None)
    url = settings.slack_webhook_url.get_secret_value()
    problem = webhook_problem(url)
    return SlackFacts(setting, None if problem else webhook_shown(url), problem)


def _read(what: str, read: Callable[[], T]) -> T | Unavailable:
    try:
        return read()
    except Exception as error:  # unforeseen: said as one problem; the other facts go on
        log.debug("reading %s failed", what, exc_info=True)
        return Unavailable(f"reading {what}", error_line(error))


def _log_crash(name: str, error: Exception) -> None:
    log.debug("check %s failed", name, exc_info=error)


def _config(settings: Settings, clock: Clock) -> ConfigFacts:
    try:
        rules: PayRules | None = settings.pay()
        rule_problems: tuple[str, ...] = ()
    except PayRulesError as error:  # each problem is a line of its own
        rules, rule_problems = None, error.problems
    return ConfigFacts(
        boards=tuple(settings.boards),
        mentors=tuple(settings.mentors),
        stages=settings.stage_map(),
        rules=rules,
        today=clock.now().astimezone(settings.zone).date(),
        boards_setting=env_name("boards"),
        mentors_setting=env_name("mentors"),
        rule_problems=rule_problems,
    )


def _ledger(settings: Settings, clock: Clock) -> LedgerFacts | Unavailable:
    url = settings.database_url
    setting = env_name("database_url")
    try:
        shown = shown_ledger(url)
        location = ledger_location_problem(url)
        if location:
            return LedgerFacts(setting, shown, LATEST_VERSION, location_problem=location)
        if not ledger_exists(url):
            return LedgerFacts(setting, shown, LATEST_VERSION, exists=False)
        with open_ledger(url, clock=clock, migrate=False) as ledger:
            version = ledger.schema_version()
            # Another schema's tables may not be what this version reads: not asked.
            entries = tuple(ledger.entries()) if version == LATEST_VERSION else None
    except LedgerError as error:
        return Unavailable(setting, str(error))
    return LedgerFacts(setting, shown, LATEST_VERSION, schema_version=version, entries=entries)


def _trello(settings: Settings, clock: Clock) -> TrelloFacts | Unavailable:
    try:
        trello = make_trello(settings, clock)
    except ConfigError as error:
        return Unavailable("", str(error))
    try:
        try:
            owner = str(trello.me().get("username") or "")
        except TrelloAuthError as error:
            return Unavailable("", str(error))  # it names the setting (key or token)
        except TrelloError as error:
            return Unavailable("Trello", str(error))
        boards: list[BoardSeen | Unavailable] = []
        for ref in settings.boards:
            try:
                boards.append(_board(trello, ref, with_members=bool(settings.mentors)))
            except (TrelloNotFound, TrelloAuthError):
                # The token works (me() above): a 401 here is about this board, not the token.
                boards.append(Unavailable(env_name("boards"), board_not_found(ref)))
            except TrelloError as error:
                # Trello itself fails: each board after it would only wait out the retries.
                return TrelloFacts(owner, tuple(boards), Unavailable("Trello", str(error)))
            except Exception as error:  # unforeseen, in this board's answer: the others go on
                log.debug("reading board %r failed", ref, exc_info=True)
                boards.append(Unavailable(f"reading board {ref!r}", error_line(error)))
        return TrelloFacts(owner, tuple(boards))
    finally:
        trello.close()


def _board(trello: HttpTrello, ref: str, *, with_members: bool) -> BoardSeen:
    board = trello.board(ref)
    board_id = str(board["id"])
    snapshot = trello.board_snapshot(board_id)
    members = trello.board_members(board_id) if with_members else []
    return BoardSeen(
        ref=ref,
        name=str(board.get("name") or ref),
        lists=tuple(
            ListSeen(str(item.get("name") or ""), bool(item.get("closed")))
            for item in snapshot.lists
        ),
        cards=len(snapshot.cards),
        members=tuple(str(member.get("username") or "") for member in members),
    )

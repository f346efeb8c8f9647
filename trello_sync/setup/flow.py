"""`trello-sync setup`: from an API key to a checked, synced board, in one command.

Three phases, so that a wrong answer or Ctrl-C at any question leaves nothing behind:

1. ask and read: the key, the token (checked with Trello: whose it is, what it may do),
   the boards, how each one fits (lists → stages, students with no project), and every
   yes or no (creating lists and labels, the first sync). Nothing is written.
2. show the plan and, in a terminal, ask once to go ahead; an existing configuration
   without --force stops here (exit 2) after showing what would change.
3. act: create what was agreed on the board, write the secrets and the configuration,
   then run `check` and, if asked for, the first `sync`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

from trello_sync.domain.board_fit import BoardFit, Lang, fit_board, label_color
from trello_sync.domain.text import fold
from trello_sync.settings import (
    DEFAULT_CONFIG_FILE,
    ENV_PREFIX,
    SECRET_ENV,
    Settings,
    board_ref,
    default_secrets_dir,
    user_config_path,
)
from trello_sync.setup.ask import Asker
from trello_sync.setup.files import (
    ConfigChange,
    folder_problem,
    planned_config,
    write_config,
    write_secrets,
)
from trello_sync.trello.account import TokenInfo, TrelloAccount
from trello_sync.trello.http import PacingClock
from trello_sync.trello.port import Json, TrelloNotFound

POWER_UP_ADMIN = "https://trello.com/power-ups/admin"
AUTHORIZE_URL = "https://trello.com/1/authorize"
EXPIRATIONS = ("1day", "30days", "never")
NEW_BOARD_NAME = "Mentoring"
_KEY_SHAPE = re.compile(r"[A-Za-z0-9]{8,128}")
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9]{8,256}")
_SHOWN_STUDENTS = 10


class SetupRefused(Exception):
    """An answer setup cannot go on with (a bad key, a read-only token…): exit 2."""


@dataclass
class SetupOptions:
    """The flags; None or False where the person at the terminal is asked instead."""

    key: str | None = None
    token: str | None = None
    boards: list[str] = field(default_factory=list)
    new_board: str | None = None
    create_lists: bool = False
    create_labels: bool = False
    lang: Lang | None = None
    secrets_dir: Path | None = None
    config: Path | None = None
    expiration: str = "never"
    yes: bool = False
    force: bool = False


@dataclass
class BoardPlan:
    """One board to sync, and what setup will create on it."""

    name: str
    short_link: str
    board_id: str | None  # None: a new board, created in phase 3
    fit: BoardFit
    lists_to_create: tuple[str, ...] = ()
    labels_to_create: tuple[str, ...] = ()

    @property
    def creates_anything(self) -> bool:
        return self.board_id is None or bool(self.lists_to_create or self.labels_to_create)


@dataclass
class Plan:
    key: str
    token: str
    username: str
    boards: list[BoardPlan]
    secrets_dir: Path
    config: ConfigChange
    first_sync: bool


def authorize_url(key: str, expiration: str) -> str:
    query = {
        "expiration": expiration,
        "scope": "read,write",
        "response_type": "token",
        "name": "trello-sync",
        "key": key,
    }
    return f"{AUTHORIZE_URL}?{urlencode(query, safe=',')}"


class Setup:
    """One run of setup: `plan()` asks and reads, `apply(plan)` writes."""

    def __init__(
        self,
        options: SetupOptions,
        base: Settings,
        *,
        console: Console,
        asker: Asker,
        clock: PacingClock,
        timezone: str,
        lang: Lang,
    ) -> None:
        self.options, self.base, self.console, self.asker = options, base, console, asker
        self.clock, self.timezone, self.default_lang = clock, timezone, lang
        self.trello: TrelloAccount | None = None
        self.lang: Lang | None = options.lang

    # --- phase 1: ask and read --------------------------------------------------------

    def plan(self) -> Plan:
        options, say = self.options, self.console.print
        config_path = options.config or user_config_path()
        secrets_dir = options.secrets_dir or default_secrets_dir()
        for problem in (
            folder_problem(config_path.parent, "--config"),
            folder_problem(secrets_dir, "--secrets-dir"),
        ):
            if problem:
                raise SetupRefused(problem)
        if config_path.exists() and not options.force:
            say(
                f"[yellow]{config_path} exists[/]: setup will show what would change and "
                "write nothing (run it with --force to update it)."
            )
        key = self._key()
        token = self._token(key)
        self.trello = trello = TrelloAccount(self.base.api_url, key, token, clock=self.clock)
        info, me = trello.token_info(token), trello.me()
        self._show_token(info, me)
        if not info.can_write:
            raise SetupRefused(
                "this token is read-only, and trello-sync posts its replies as comments: "
                "authorise a token with the read,write scope"
            )
        boards = self._boards(trello)
        first_sync = options.yes or self.asker.confirm(
            "Run the first sync once setup is written?", default=True
        )
        username = str(me.get("username") or "")
        config = planned_config(
            config_path,
            # A new board's short link is known once it is made: the plan shows its name.
            boards=[b.short_link or f"<the new board {b.name}>" for b in boards],
            mentors=[username] if username else [],
            timezone=self.timezone,
        )
        return Plan(key, token, username, boards, secrets_dir, config, first_sync)

    def _given(self, flag_value: str | None, flag: str, field_name: str) -> tuple[str, str]:
        """The value a flag gave, else the environment's (which keeps a secret out of the
        command line and so out of `ps`), with where it came from; ("", "") for none."""
        if flag_value is not None:
            return flag_value, flag
        env = SECRET_ENV[field_name]
        if os.environ.get(env):
            self.console.print(f"Using {env} from the environment.")
            return os.environ[env], env
        return "", ""

    def _key(self) -> str:
        given, source = self._given(self.options.key, "--key", "api_key")
        if source:
            return _checked(given, _KEY_SHAPE, source, "an API key")
        self.console.print(
            "Your API key is on Trello's Power-Up admin portal, "
            f"[link={POWER_UP_ADMIN}]{POWER_UP_ADMIN}[/link]: create a Power-Up once "
            "(any name, such as trello-sync), open it, and copy the key from its "
            '"API key" tab.'
        )
        return self.asker.text(
            "API key",
            flag="--key",
            what="your Trello API key",
            valid=lambda k: None if _KEY_SHAPE.fullmatch(k) else "an API key is letters and digits",
        )

    def _token(self, key: str) -> str:
        given, source = self._given(self.options.token, "--token", "token")
        if source:
            return _checked(given, _TOKEN_SHAPE, source, "a token")
        if not self.asker.interactive:
            self.asker.text("Token", flag="--token", what="a token authorised for the key")
        url = authorize_url(key, self.options.expiration)
        self.console.print(
            "Open this address, sign in to Trello if asked, press [bold]Allow[/], and copy "
            "the token Trello shows:"
        )
        self.console.print(url, soft_wrap=True, highlight=False, markup=False)
        return self.asker.text(
            "Token (not shown as you paste it)",
            flag="--token",
            what="a token authorised for the key",
            secret=True,
            valid=lambda t: None if _TOKEN_SHAPE.fullmatch(t) else "a token is letters and digits",
        )

    def _show_token(self, info: TokenInfo, me: Json) -> None:
        expires = info.expires[:10] if info.expires else "never"
        who = f"{me.get('fullName') or ''} (@{me.get('username') or '?'})".strip()
        self.console.print(
            f"Token of [bold]{_plain(who)}[/]: {info.permissions}; expires {expires}."
        )

    def _boards(self, trello: TrelloAccount) -> list[BoardPlan]:
        options = self.options
        open_boards = trello.open_boards()
        if options.boards or options.new_board:
            chosen = [_find_board(open_boards, ref, trello) for ref in options.boards]
            plans = [self._existing(trello, board) for board in chosen]
            if options.new_board:
                plans.append(self._new(options.new_board))
            return plans
        if not self.asker.interactive:
            self.asker.text("Board", flag="--board or --new-board", what="the board to sync")
        counts = trello.open_card_counts([str(b["id"]) for b in open_boards])
        self._show_boards(open_boards, counts)
        answer = self.asker.text(
            "Boards to sync: their numbers separated by commas, or n for a new board",
            flag="--board",
            what="the board to sync",
            default="n" if not open_boards else None,
            valid=lambda a: _picks_problem(a, len(open_boards)),
        )
        plans = []
        for pick in _picks(answer):
            if pick == "n":
                name = self.asker.text(
                    "Name of the new board", flag="--new-board", what="", default=NEW_BOARD_NAME
                )
                plans.append(self._new(name))
            else:
                plans.append(self._existing(trello, open_boards[int(pick) - 1]))
        return plans

    def _show_boards(self, boards: list[Json], counts: dict[str, int | None]) -> None:
        if not boards:
            self.console.print("This member has no open board yet.")
            return
        self.console.print("\n[bold]Your open boards[/]")
        table = Table()
        for column in ("#", "board", "cards", "short link"):
            table.add_column(column)
        for number, board in enumerate(boards, 1):
            count = counts.get(str(board["id"]))
            table.add_row(
                str(number),
                _plain(str(board.get("name") or "")),
                "?" if count is None else str(count),
                str(board.get("shortLink") or ""),
            )
        self.console.print(table)

    def _existing(self, trello: TrelloAccount, board: Json) -> BoardPlan:
        board_id = str(board["id"])
        snapshot = trello.board_snapshot(board_id)
        fit = fit_board(
            lists=snapshot.lists,
            cards=snapshot.cards,
            labels=trello.board_labels(board_id),
            custom_fields=snapshot.custom_fields,
            stage_map=self.base.stage_map(),
            projects=self.base.project_table(),
            by_funding=self.base.pay().priced_by_funding,
        )
        name = str(board.get("name") or board_id)
        plan = BoardPlan(name, str(board.get("shortLink") or board_id), board_id, fit)
        self._show_fit(plan)
        if fit.missing_stages and self._yes(
            self.options.create_lists,
            f"Create the missing stage lists on {_plain(name)}?",
        ):
            plan.lists_to_create = fit.lists_to_create(self._lang())
        self._offer_labels(plan)
        return plan

    def _new(self, name: str) -> BoardPlan:
        if not name.strip():
            raise SetupRefused("--new-board: a board needs a name")
        fit = fit_board(
            lists=[],
            cards=[],
            labels=[],
            custom_fields=[],
            stage_map=self.base.stage_map(),
            projects=self.base.project_table(),
            by_funding=self.base.pay().priced_by_funding,
        )
        plan = BoardPlan(
            name.strip(), "", None, fit, lists_to_create=fit.lists_to_create(self._lang())
        )
        lists = ", ".join(plan.lists_to_create)
        self.console.print(f"New board [bold]{_plain(plan.name)}[/] with the lists: {lists}.")
        self._offer_labels(plan)
        return plan

    def _offer_labels(self, plan: BoardPlan) -> None:
        projects = plan.fit.labels_to_create
        # Only then the lists' language is asked for (it names the funding labels too).
        fundings = (
            plan.fit.funding_labels_to_create(self._lang())
            if plan.fit.fundings_without_label
            else ()
        )
        missing = projects + fundings
        what = " and ".join(
            part
            for part, wanted in (
                ("a label for each project of the pay table", projects),
                ("the labels that say a student's funding", fundings),
            )
            if wanted
        )
        if missing and self._yes(
            self.options.create_labels,
            f"Create {what} on {_plain(plan.name)} ({len(missing)}: {', '.join(missing)})?",
        ):
            plan.labels_to_create = missing

    def _show_fit(self, plan: BoardPlan) -> None:
        fit, say = plan.fit, self.console.print
        say(f"\n[bold]{_plain(plan.name)}[/]: lists and stages")
        table = Table()
        table.add_column("list")
        table.add_column("stage")
        for lst in fit.lists:
            table.add_row(_plain(lst.name), lst.stage.value if lst.stage else "[dim]none[/]")
        say(table)
        if fit.unmapped_lists:
            say(
                "Lists that map to no stage (their cards are not counted as students): "
                + ", ".join(_plain(n) for n in fit.unmapped_lists)
            )
        if fit.missing_stages:
            say("Stages with no list: " + ", ".join(s.value for s in fit.missing_stages))
        students = fit.students_without_project
        if students:
            shown = ", ".join(_plain(n) for n in students[:_SHOWN_STUDENTS])
            more = f" and {len(students) - _SHOWN_STUDENTS} more" if len(students) > 10 else ""
            say(
                f"Students with no project (paid at level {self.base.default_level} until "
                f"one is set): {shown}{more}"
            )

    def _yes(self, flag: bool, question: str) -> bool:
        return flag or self.asker.confirm(question, default=True)

    def _lang(self) -> Lang:
        if self.lang is None:
            if self.asker.interactive:
                answer = self.asker.text(
                    "Names of the stage lists: en (Waiting, Active…) or fr (En attente, En cours…)",
                    flag="--lang",
                    what="",
                    default=self.default_lang.value,
                    valid=lambda a: None if a in ("en", "fr") else "en or fr",
                )
                self.lang = Lang(answer)
            else:
                self.lang = self.default_lang
        return self.lang

    # --- phase 2: show, confirm -------------------------------------------------------

    def confirmed(self, plan: Plan) -> bool:
        """Shows what setup will do; False (exit 2) for an existing file without --force."""
        say = self.console.print
        say("\n[bold]Setup will:[/]")
        for board in plan.boards:
            if board.board_id is None:
                say(f"  create the board {_plain(board.name)}")
            for name in board.lists_to_create:
                say(f"  create the list {_plain(name)} on {_plain(board.name)}")
            if board.labels_to_create:
                say(f"  create {len(board.labels_to_create)} labels on {_plain(board.name)}")
        names = ", ".join(SECRET_ENV.values())
        say(f"  write {names} in {plan.secrets_dir} (readable by you alone)")
        verb = "update" if plan.config.exists else "write"
        say(f"  {verb} {plan.config.path} (no secret in it)")
        say("  run trello-sync check" + (", then the first sync" if plan.first_sync else ""))
        if plan.config.exists and not self.options.force:
            say(f"\n{plan.config.path} exists; this is what would change:")
            say(plan.config.diff(), markup=False, highlight=False, end="")
            say(
                "[yellow]Nothing was written and nothing was created on Trello.[/] Run "
                "setup again with --force to update it."
            )
            return False
        if not self.asker.interactive:
            return True
        return self.asker.confirm("Go ahead?", default=True)

    # --- phase 3: act -----------------------------------------------------------------

    def apply(self, plan: Plan) -> Plan:
        assert self.trello is not None
        trello, say = self.trello, self.console.print
        for board in plan.boards:
            if board.board_id is None:
                created = trello.create_board(board.name)
                board.board_id, board.short_link = str(created["id"]), str(created["shortLink"])
                say(f"Created the board {_plain(board.name)} ({board.short_link}).")
            for name in board.lists_to_create:
                trello.create_list(board.board_id, name)
            for index, name in enumerate(board.labels_to_create):
                trello.create_label(board.board_id, name, label_color(index))
            if board.lists_to_create or board.labels_to_create:
                say(
                    f"On {_plain(board.name)}: {len(board.lists_to_create)} lists and "
                    f"{len(board.labels_to_create)} labels created."
                )
        # A new board's short link is known only now.
        config = planned_config(
            plan.config.path,
            boards=[b.short_link for b in plan.boards],
            mentors=[plan.username] if plan.username else [],
            timezone=self.timezone,
        )
        written = write_secrets(plan.secrets_dir, {"api_key": plan.key, "token": plan.token})
        say(f"Wrote {', '.join(p.name for p in written)} in {plan.secrets_dir} (0600).")
        write_config(config)
        say(f"Wrote {config.path}.")
        plan.config = config
        return plan

    def pointers(self, plan: Plan) -> list[str]:
        """The shell lines that point the service at what setup wrote (none for the
        defaults), and the variables of this shell that would override it."""
        lines = []
        if plan.secrets_dir.absolute() != default_secrets_dir().absolute():
            lines.append(f"export {ENV_PREFIX}SECRETS_DIR={plan.secrets_dir.absolute()}")
        if plan.config.path.absolute() != Path(DEFAULT_CONFIG_FILE).absolute():
            lines.append(f"export {ENV_PREFIX}CONFIG={plan.config.path.absolute()}")
        return lines

    def overriding_environment(self, plan: Plan) -> list[str]:
        """The variables of this shell that take precedence over what setup wrote."""
        written = {SECRET_ENV["api_key"]: plan.key, SECRET_ENV["token"]: plan.token}
        names = [*written, f"{ENV_PREFIX}BOARDS", f"{ENV_PREFIX}MENTORS"]
        return [n for n in names if os.environ.get(n) and os.environ[n] != written.get(n)]


def _checked(value: str, shape: re.Pattern[str], flag: str, what: str) -> str:
    value = value.strip()
    if not shape.fullmatch(value):
        raise SetupRefused(f"{flag}: that is not {what} (letters and digits)")
    return value


def _picks(answer: str) -> list[str]:
    return [part.strip().lower() for part in answer.split(",") if part.strip()]


def _picks_problem(answer: str, count: int) -> str | None:
    picks = _picks(answer)
    if not picks:
        return "name at least one board"
    for pick in picks:
        if pick != "n" and not (pick.isdigit() and 1 <= int(pick) <= count):
            return f"{pick!r} is not one of the numbers shown, nor n"
    if len(set(picks)) != len(picks):
        return "each board once"
    return None


def _find_board(boards: list[Json], ref: str, trello: TrelloAccount) -> Json:
    """A board by name (case and accents ignored), id, short link or URL."""
    by_name = [b for b in boards if fold(str(b.get("name") or "")) == fold(ref)]
    if len(by_name) > 1:
        raise SetupRefused(f"--board {ref!r}: {len(by_name)} open boards have that name")
    if by_name:
        return by_name[0]
    try:
        link = board_ref(ref)
    except ValueError:
        raise SetupRefused(
            f"--board {ref!r}: no open board of this member has that name "
            "(nor is it a board id, short link or URL)"
        ) from None
    for board in boards:
        if link in (board.get("id"), board.get("shortLink")):
            return board
    try:
        return trello.board(link)  # a board the member sees without being a member of it
    except TrelloNotFound:
        raise SetupRefused(
            f"--board {ref!r}: no open board of this member has that name, id or short link"
        ) from None


def _plain(text: str) -> str:
    """A board's or list's own text, shown as written (no rich markup read into it)."""
    return text.replace("[", "\\[")

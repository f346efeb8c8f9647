"""Where setup's answers come from: a person at a terminal, or the flags alone.

In a terminal a question the flags did not answer is asked (rich prompts; a secret is
read without echo). Without one (a script, CI, a test) it cannot be asked: the missing
answer is a MissingAnswer naming the flag that gives it, and setup stops before
anything is written.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.prompt import Confirm, Prompt


class MissingAnswer(Exception):
    """A question only a flag can answer here (no terminal to ask it on)."""

    def __init__(self, flag: str, what: str) -> None:
        super().__init__(f"{flag} is needed ({what}); there is no terminal to ask on")
        self.flag = flag


class Asker:
    """Asks the questions setup cannot answer from its flags."""

    def __init__(self, console: Console, *, interactive: bool) -> None:
        self.console = console
        self.interactive = interactive

    def text(
        self,
        question: str,
        *,
        flag: str,
        what: str,
        default: str | None = None,
        secret: bool = False,
        valid: Callable[[str], str | None] = lambda _: None,
    ) -> str:
        """An answer; `valid` returns why an answer is refused (asked again), or None."""
        if not self.interactive:
            raise MissingAnswer(flag, what)
        while True:
            if default is None:
                answer = Prompt.ask(question, console=self.console, password=secret)
            else:
                answer = Prompt.ask(
                    question, console=self.console, password=secret, default=default
                )
            answer = answer.strip()
            problem = "an answer is needed" if not answer else valid(answer)
            if problem is None:
                return answer
            self.console.print(f"[red]{problem}[/]")

    def confirm(self, question: str, *, default: bool = True) -> bool:
        """Yes or no. Without a terminal the answer is no: only a flag says yes there."""
        if not self.interactive:
            return False
        return bool(Confirm.ask(question, console=self.console, default=default))

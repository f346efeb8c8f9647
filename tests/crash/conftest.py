"""Crash tests: the real CLI in a subprocess, killed at a named crash point
(`TRELLO_SYNC_CRASH_AT`, `os._exit(137)`), then started again; the sandbox over real
HTTP; the ledger on each backend (see tests/backends.py)."""

from sandbox_board import board

__all__ = ["board"]

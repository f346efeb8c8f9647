"""The Trello sandbox: a local HTTP server that behaves like Trello's REST API.

Used by `trello-sync demo`, `trello-sync sandbox` and the end-to-end tests, so that the
real client code runs over real HTTP against Trello's own JSON shapes.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import TextIO

from trello_sync.sandbox.demo_board import DemoBoard, build_demo_board, serve_demo
from trello_sync.sandbox.server import SandboxServer
from trello_sync.sandbox.state import SandboxState

__all__ = [
    "DemoBoard",
    "SandboxServer",
    "SandboxState",
    "build_demo_board",
    "run_sandbox",
    "serve_demo",
]


def setup_hints(url: str, demo: DemoBoard, api_secret: str = "") -> list[str]:
    """How to try `trello-sync setup` (and the worker's webhooks) against this sandbox, as
    `# ` comment lines (so that a shell or a `NAME=value` parser skips them). Sandbox
    values only, no real secrets."""
    webhooks = [
        "# Webhooks (the sandbox signs its deliveries with this application secret):",
        f"#   TRELLO_API_SECRET={api_secret} TRELLO_SYNC_WEBHOOK_LISTEN=127.0.0.1:8787 "
        "TRELLO_SYNC_WEBHOOK_URL=http://127.0.0.1:8787/trello trello-sync run",
    ]
    return [
        "# Try the guided setup against this sandbox (no Trello account needed):",
        f"#   TRELLO_SYNC_API_URL={url} trello-sync setup",
        f"#   API key: {demo.api_key}   token: {demo.mentor_token}   "
        f"read-only token (setup refuses it): {demo.readonly_token}",
        f"# or in one command: TRELLO_SYNC_API_URL={url} trello-sync setup --key {demo.api_key} "
        f"--token {demo.mentor_token} --board {demo.short_link} --yes",
        *(webhooks if api_secret else []),
    ]


def run_sandbox(
    port: int | None = None, out: TextIO | None = None, stop: threading.Event | None = None
) -> int:
    """Serves the demo board until SIGINT/SIGTERM; first prints the four settings lines
    (`NAME=value`, parsed by scripts and tests), then `# ` lines on trying the setup.

    Setting `stop` stops it too (signals can only be caught on the main thread, so a
    caller running it in another thread stops it so). Returns the exit code: 0 after a
    clean stop, 1 if the server could not start.
    """
    out = out or sys.stdout
    try:
        server, demo = serve_demo(port or 0)
    except OSError as error:
        print(
            f"trello-sync sandbox: cannot listen on port {port}: {error.strerror}", file=sys.stderr
        )
        return 1
    stop = stop if stop is not None else threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        print(f"TRELLO_SYNC_API_URL={server.url}", file=out)
        print(f"TRELLO_API_KEY={demo.api_key}", file=out)
        print(f"TRELLO_TOKEN={demo.mentor_token}", file=out)
        print(f"TRELLO_SYNC_BOARDS={demo.board_id}", file=out)
        for line in setup_hints(server.url, demo, server.state.api_secret):
            print(line, file=out)
        out.flush()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
    return 0

"""A free local port for a test's server, that nobody else is handed before it binds.

Binding port 0 and letting go of it is racy: the kernel hands out the same ephemeral
range to every other `bind(0)` and to every outgoing connection, so between the probe
and the server's own bind another test (or a connection of its own) may take it. The
ports here come from below the ephemeral range (Linux's default starts at 32768), from
a stretch of their own for each pytest-xdist worker, each checked free before use."""

from __future__ import annotations

import itertools
import os
import socket

FIRST_PORT = 20_000
PORTS_PER_WORKER = 400


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw3": the fourth worker
    digits = name.removeprefix("gw")
    return int(digits) if digits.isdigit() else 0


_next = itertools.count()


def free_port() -> int:
    start = FIRST_PORT + _worker_index() * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        port = start + next(_next) % PORTS_PER_WORKER
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken by something else on this machine
            return port
    raise RuntimeError(f"no free port between {start} and {start + PORTS_PER_WORKER - 1}")

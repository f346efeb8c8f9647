"""`python -m trello_sync.sandbox [--port N]`: serve the demo board until stopped."""

from __future__ import annotations

import argparse

from trello_sync.sandbox import run_sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trello_sync.sandbox",
        description="Serve a local Trello sandbox with a demo board until SIGINT/SIGTERM.",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    args = parser.parse_args(argv)
    return run_sandbox(args.port)


if __name__ == "__main__":
    raise SystemExit(main())

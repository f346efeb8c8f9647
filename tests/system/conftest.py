"""System tests: the real CLI, in a subprocess, against the sandbox over real HTTP."""

from sandbox_board import board

__all__ = ["board"]

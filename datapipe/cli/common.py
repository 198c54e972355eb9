"""What every command shares: exit codes and the report console (stdout); progress and results go to
:func:`datapipe.engine.progress.make_console` (stderr)."""

from __future__ import annotations

from rich.console import Console

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


def out_console() -> Console:
    """stdout: a terminal as it is; a pipe or log 160 wide (no wrapping mid-sentence)."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=160)

"""The ``datapipe`` command line.

Exit codes: 0 success, 1 the run failed, 2 bad input (workflow, arguments, a damaged dataset)
with a message that names what is wrong.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from datapipe.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED
from datapipe.errors import Terminated, is_bad_input


def _version() -> str:
    """datapipe's version, and the versions of what it runs on."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from datapipe import __version__

    parts = [f"datapipe {__version__}", f"Python {platform.python_version()}"]
    for dist in ("ray", "mujoco", "mediapipe", "torch"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    return ", ".join(parts)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="datapipe",
        description="Data collection and curation for VLA robot policies.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the version line unwrapped
    )
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True)
    from datapipe.cli import datasets, run
    from datapipe.cli import train as train_command

    run.register(sub)
    datasets.register(sub)
    train_command.register(sub)
    _plugin_commands(sub)
    for command in sub.choices.values():
        command.formatter_class = DefaultsHelpFormatter
    return p


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none (None, False, empty) or the
    help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default in (None, False, "", [], ())
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: {default})" if text else f"default: {default}"


def _plugin_commands(sub: Any) -> None:
    """Commands of the layers above the core (``datapipe evaluate`` from ``generators``...), found
    through the ``datapipe.commands`` entry point group: each is a ``register(subparsers)`` that
    adds its parser and sets ``handler``."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group="datapipe.commands"), key=lambda e: e.name):
        ep.load()(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``datapipe`` command; returns the exit code.

    Bad input (:class:`~datapipe.errors.DatapipeError`): a one-line message, exit 2. Ctrl-C:
    exit 130; SIGTERM: exit 143. Anything else is a bug: the traceback, exit 1.
    """
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except Terminated:
        print("terminated (SIGTERM): the run directory says interrupted; run again to resume", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if is_bad_input(exc):
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_BAD_INPUT
        traceback.print_exc()
        print(
            "datapipe failed with an unexpected error (a bug: please report it with the traceback above)",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

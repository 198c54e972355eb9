"""One base for bad input: :class:`DatapipeError`.

A workflow, an argument, a config value or a dataset that is wrong raises a subclass of
:class:`DatapipeError` whose message names the file, stage, field or value. The command line
turns these into a one-line message and exit code 2; any other exception is a bug in datapipe
or in a stage: exit code 1, with the traceback printed (and, for a run, saved in the run
directory).

:class:`DatapipeError` derives from :class:`Exception`, not from ``ValueError``: a bug that raises
``ValueError`` (or ``KeyError``, ``TypeError``) inside datapipe is never mistaken for bad input,
and an ``except ValueError`` meant for a library's own error never swallows ours. Library code
turns the errors of what it calls (NumPy, PyAV, ``json``) into a subclass where they mean bad
input, at the place that knows which file or field it was.
"""

from __future__ import annotations


class DatapipeError(Exception):
    """Bad input (workflow, arguments, dataset, config): the message says what and where."""


def is_bad_input(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is bad input rather than a bug.

    The episode schema's version error lives in ``schemas`` (which imports nothing of datapipe),
    so it is recognised here by type.
    """
    from datapipe.schemas.episode import SchemaVersionError

    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, (DatapipeError, SchemaVersionError)):
            return True
        exc = exc.__cause__
        seen += 1
    return False


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler, ``docker stop``): handled as Ctrl-C is (the run is marked
    interrupted and resumes), with exit code 143 (128 + 15)."""


def terminate_as_interrupt() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread (no-op in another thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)

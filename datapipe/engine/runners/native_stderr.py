"""Keep Ray's known false alarms off the console, and nothing else.

Ray 2.60's core worker logs, in the driver and at level ERROR, ``core_worker.cc: Actor with class
name: 'MapWorker(...)' ... has constructor arguments in the object store and max_restarts > 0``
for every Ray Data actor pool: Ray Data itself passes the pool's constructor arguments as object
references (and keeps them alive while the pool runs) and asks for restarts by default
(ray-project/ray#53727). It reads as an error in every actor-pool run and is none. The line is
written by C++ straight to file descriptor 2, below Python, and ``RAY_BACKEND_LOG_LEVEL`` (which
would also hide real errors) prints lines of its own.

:func:`filter_native_stderr` routes descriptor 2 through a small child process that copies every
line to the real stderr except those matching :data:`FALSE_ALARMS`. Python's own ``sys.stderr``
(progress bars, errors, Ray's forwarded worker logs) is pointed straight at the real stderr, so a
terminal stays a terminal. The child ignores Ctrl-C and runs until the last writer closes the
pipe, so what a crashing process writes last (a C++ check failure, a fault handler's stack)
still arrives.
"""

from __future__ import annotations

import os
import subprocess
import sys

FALSE_ALARMS = (r"core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in the object store",)
"""Regular expressions of native stderr lines that are dropped (searched anywhere in a line)."""

_CHILD = r"""
import re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
drop = re.compile(sys.argv[1].encode())
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not drop.search(line):
        out.write(line)
        out.flush()
"""

_installed: subprocess.Popen | None = None


def filter_native_stderr() -> bool:
    """Install the filter for the rest of this process (once); return whether it is installed.

    Does nothing where descriptor 2 is closed or ``DATAPIPE_RAW_STDERR`` is set (to see
    everything Ray writes).
    """
    global _installed
    if _installed is not None:
        return True
    if os.environ.get("DATAPIPE_RAW_STDERR"):
        return False
    try:
        real = os.dup(2)
    except OSError:
        return False
    sys.stderr.flush()
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _CHILD, "|".join(f"(?:{p})" for p in FALSE_ALARMS)],
        stdin=subprocess.PIPE,
        stdout=real,
        stderr=real,
        close_fds=True,
    )
    assert child.stdin is not None
    # Python writes straight to the real stderr (isatty answers for the terminal); native writes
    # to descriptor 2 go through the child
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
    os.dup2(child.stdin.fileno(), 2)
    child.stdin.close()
    _installed = child
    return True

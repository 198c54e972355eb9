"""Run Python code in a fresh process and read its peak resident memory."""

from __future__ import annotations

import subprocess
import sys
import time

# VmHWM (peak resident set of this process image), not ru_maxrss, which survives exec and would
# report the parent's size when the parent is large
_PEAK = "print('PEAK', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"


def run_with_peak(code: str) -> tuple[str, float, float]:
    """``code`` run by a fresh interpreter: (its stdout, wall seconds, peak resident MiB)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", f"{code}\n{_PEAK}"], check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    peak_kib = int(next(line for line in proc.stdout.splitlines() if line.startswith("PEAK")).split()[1])
    return proc.stdout, elapsed, peak_kib / 1024

"""Progress bars per stage while a run executes, and the final table of counts (rich)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table


def make_console() -> Console:
    """A stderr console, 120 columns wide when stderr is not a terminal (logs, CI)."""
    probe = Console(stderr=True)
    return probe if probe.is_terminal else Console(stderr=True, width=120)


class ProgressBoard:
    """One bar per stage counting consumed inputs, with outputs and failures beside it.

    ``report`` is thread-safe; it is what the local runner calls directly and what the Ray
    runner's driver calls with totals polled from its counter actor (``set_totals``).
    """

    def __init__(
        self, stage_ids: list[str], labels: dict[str, str], enabled: bool = True, console: Console | None = None
    ):
        self.console = console or make_console()
        self.enabled = enabled
        # on a terminal: live bars; in a log (nohup, CI, tee, Ray job logs): plain lines
        self.plain = enabled and not self.console.is_terminal
        self._lock = threading.Lock()
        self._counts = {sid: [0, 0, 0] for sid in stage_ids}
        self._totals: dict[str, int | None] = {sid: None for sid in stage_ids}
        self._finished: set[str] = set()  # final counts set; late reports are ignored
        self._started = time.monotonic()
        self._logged: dict[str, tuple] = {}  # what the last plain line of each stage said
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("out {task.fields[n_out]:>6}  failed {task.fields[n_failed]:>4}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not enabled or self.plain,
            transient=False,
        )
        self._tasks = {
            sid: self._progress.add_task(labels.get(sid, sid), total=None, n_out=0, n_failed=0) for sid in stage_ids
        }

    def __enter__(self) -> ProgressBoard:
        self._progress.start()
        if self.plain:
            self._ticker = threading.Thread(target=self._tick, name="datapipe-progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join(timeout=5)
            self.log_lines()

    def set_total(self, stage_id: str, total: int | None) -> None:
        """Set the number of inputs a stage will consume, when known."""
        self._totals[stage_id] = total
        self._progress.update(self._tasks[stage_id], total=total)

    def _tick(self) -> None:
        interval = float(os.environ.get("DATAPIPE_PROGRESS_INTERVAL", LOG_INTERVAL_S))
        while not self._stop.wait(interval):
            self.log_lines()

    def log_lines(self) -> None:
        """Print a plain line for each stage whose counts changed since its last line
        (``sim: 12/40 in, 11 out, 0 failed, 2:10``)."""
        with self._lock:
            lines = []
            for sid, (n_in, n_out, n_failed) in self._counts.items():
                state = (n_in, n_out, n_failed, sid in self._finished)
                if state == self._logged.get(sid, (0, 0, 0, False)):
                    continue
                self._logged[sid] = state
                total = self._totals.get(sid)
                done = " done" if sid in self._finished else ""
                lines.append(
                    f"{sid}: {n_in}{f'/{total}' if total else ''} in, {n_out} out, {n_failed} failed, "
                    f"{_clock(time.monotonic() - self._started)}{done}"
                )
        for line in lines:
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def report(self, stage_id: str, n_in: int, n_out: int, n_failed: int) -> None:
        """Add the counts of one committed part."""
        with self._lock:
            if stage_id in self._finished:
                return
            c = self._counts[stage_id]
            c[0] += n_in
            c[1] += n_out
            c[2] += n_failed
            self._show(stage_id)

    def set_totals(self, stage_id: str, n_in: int, n_out: int, n_failed: int) -> None:
        """Replace a stage's counts (from a remote counter)."""
        with self._lock:
            if stage_id in self._finished:
                return
            self._counts[stage_id] = [n_in, n_out, n_failed]
            self._show(stage_id)

    def _show(self, stage_id: str) -> None:
        n_in, n_out, n_failed = self._counts[stage_id]
        self._progress.update(self._tasks[stage_id], completed=n_in, n_out=n_out, n_failed=n_failed)

    def finish(self, stage_id: str, n_in: int, n_out: int, n_failed: int) -> None:
        """Mark a stage done with its final counts (its bar becomes full)."""
        with self._lock:
            self._finished.add(stage_id)
            self._counts[stage_id] = [n_in, n_out, n_failed]
            self._progress.update(self._tasks[stage_id], total=n_in, completed=n_in, n_out=n_out, n_failed=n_failed)
        if self.plain:
            self.log_lines()


LOG_INTERVAL_S = 30.0
"""Seconds between plain progress lines when stderr is not a terminal
(``DATAPIPE_PROGRESS_INTERVAL`` overrides)."""


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def print_summary(plan: Any, console: Console | None = None) -> None:
    """The final table: per stage status, counts in/out/failed, parts reused/written, time."""
    console = console or make_console()
    table = Table(title=f"run {plan.workflow.name} -> {plan.run.root.uri}")
    for col in ("stage", "uses", "status", "in", "out", "failed", "parts reused", "parts written", "time s"):
        table.add_column(col, justify="right" if col not in ("stage", "uses", "status") else "left")
    for sp in plan.stages:
        c = sp.counts
        table.add_row(
            sp.spec.id,
            sp.spec.uses,
            sp.status,
            str(c.n_in),
            str(c.n_out),
            str(c.n_failed),
            str(sp.parts_reused),
            str(sp.parts_written),
            f"{sp.duration_s:.1f}",
        )
    console.print(table)
    print_sink_results(plan, console)


def print_sink_results(plan: Any, console: Console) -> None:
    """What each finished sink wrote and where, in its own words."""
    for sp in plan.stages:
        if sp.spec.kind == "sink" and sp.status in ("succeeded", "reused") and sp.result:
            for line in sp.spec.stage_cls.describe(sp.result):
                console.print(f"[bold]{sp.spec.id}[/] {line}", highlight=False, soft_wrap=True)

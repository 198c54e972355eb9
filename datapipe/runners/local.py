"""The local runner: every stage in topological order, in this process, no Ray.

Semantics match the Ray runner (same parts, receipts, quarantine, resume, lineage), except that
each stage runs to the end before the next starts. Unit tests and debugging use it.
"""

from __future__ import annotations

import itertools
import time

from datapipe.execution import run_part
from datapipe.plan import RunPlan
from datapipe.progress import ProgressBoard
from datapipe.runners.common import StageFailed, batched_rows, finish_segment, source_shards


def execute_local(plan: RunPlan, board: ProgressBoard) -> None:
    """Run every incomplete stage of ``plan``; raise :class:`StageFailed` on a failing stage."""
    for sp in plan.stages:
        if sp.complete_before:
            continue
        started = time.perf_counter()
        committed = sp.dir.committed()
        done = frozenset(committed.done_keys)
        try:
            if sp.spec.kind == "source":
                shards = source_shards(sp, set(done))
                board.set_total(sp.spec.id, len(shards) + len(done))
                board.report(sp.spec.id, len(done), committed.counts.n_out, committed.counts.n_failed)
                for shard in shards:
                    run_part(sp.task, [shard], done, board)
            else:
                upstream = itertools.chain.from_iterable(
                    plan.get(n).dir.read_outputs() for n in sp.spec.needs)
                for batch in batched_rows(upstream, sp.spec.batch_size):
                    run_part(sp.task, batch, done, board)
        except StageFailed:
            raise
        except Exception as exc:  # setup() or the stage's machinery, not one episode
            sp.status = "failed"
            raise StageFailed(sp.spec.id, f"{type(exc).__name__}: {exc}") from exc
        finish_segment(plan, [sp], started)
        board.finish(sp.spec.id, sp.counts.n_in, sp.counts.n_out, sp.counts.n_failed)

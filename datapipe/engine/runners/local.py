"""The local runner: every chain of stages in topological order, in this process, no Ray.

Semantics match the Ray runner (same chains, parts, receipts, quarantine, resume, lineage),
except that each chain runs to the end before the next starts. Unit tests and debugging use it.
"""

from __future__ import annotations

import itertools
import time

from datapipe.engine.execution import commit_chain
from datapipe.engine.plan import RunPlan
from datapipe.engine.progress import ProgressBoard
from datapipe.engine.runners.common import (
    StageFailed,
    batched_tables,
    finish_segment,
    source_shards,
)
from datapipe.engine.stage_task import StageSetupError


def execute_local(plan: RunPlan, board: ProgressBoard) -> None:
    """Run every incomplete chain of ``plan``; raise :class:`StageFailed` on a failing stage."""
    for chain in plan.chains:
        head, tail = chain[0], chain[-1]
        if tail.complete_before:
            continue
        started = time.perf_counter()
        done = frozenset(tail.dir.committed().chain_done)
        tasks = [sp.task for sp in chain]
        for sp in chain:  # what earlier runs committed
            board.set_totals(sp.spec.id, sp.counts.n_in, sp.counts.n_out, sp.counts.n_failed)
        try:
            if head.spec.kind == "source":
                shards = source_shards(head, set(done))
                for shard in shards:
                    commit_chain(tasks, [shard], done, board)
            else:
                upstream = itertools.chain.from_iterable(plan.get(n).dir.read_outputs() for n in head.spec.needs)
                for batch in batched_tables(upstream, head.spec.batch_size):
                    commit_chain(tasks, batch, done, board)
        except StageFailed:
            raise
        except StageSetupError as exc:
            plan.get(exc.stage_id).status = "failed"
            raise StageFailed(exc.stage_id, exc.detail, exc.bad_input) from exc
        except Exception as exc:  # the stage's machinery, not one episode
            for sp in chain:
                sp.status = "failed"
            raise StageFailed(tail.spec.id, f"{type(exc).__name__}: {exc}") from exc
        finish_segment(plan, chain, started)
        for sp in chain:
            board.finish(sp.spec.id, sp.counts.n_in, sp.counts.n_out, sp.counts.n_failed)

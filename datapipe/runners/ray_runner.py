"""The Ray runner: a run plan compiled onto Ray Data.

Each incomplete stage becomes a ``map_batches`` over its inputs (the union of its needs' outputs;
for a source, its unread shard names) with the stage's resources; a stage with ``concurrency``
(or ``use_actors``) runs on an actor pool, others as Ray tasks that Ray Data may fuse. Each batch
is committed as a part on the worker (:func:`datapipe.execution.run_part`). Streamed stages feed
their single consumer directly; committed stages (leaves, sinks, fan-out points) are executed to
the end and their consumers read the committed parts. Outputs committed by an earlier,
interrupted run are read back and unioned with the new stream, so resume is per episode.

Worker failures are Ray's: tasks are retried (``max_retries``) and actors restarted, and a
retried batch rewrites the same part.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
import time
from typing import Any

import pyarrow as pa

from datapipe.execution import SUMMARY_SCHEMA, StageTask, run_part
from datapipe.plan import RunPlan, StagePlan
from datapipe.progress import ProgressBoard
from datapipe.rundir import INPUT_KEY_COLUMN, OUTPUT_SCHEMA
from datapipe.runners.common import StageFailed, finish_segment, source_shards
from schemas.episode import EPISODE_SCHEMA

TASK_MAX_RETRIES = 5


def init_ray(address: str | None = None) -> bool:
    """Connect to ``address`` (or ``RAY_ADDRESS``), or start an embedded local Ray.

    Returns whether this call started or joined Ray (and so should shut it down).
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        # An embedded single-user Ray on loopback: no token prompt, no usage reporting.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address=address, include_dashboard=False if address == "local" else None,
             logging_level=logging.WARNING)
    return True


def _configure_ray_data() -> None:
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # datapipe shows its own per-stage bars
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    ctx.verbose_stats_logs = False


class _Counter:
    """Ray actor: per-stage counts reported by workers as parts commit."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}

    def report(self, stage_id: str, n_in: int, n_out: int, n_failed: int) -> None:
        c = self.counts.setdefault(stage_id, [0, 0, 0])
        c[0] += n_in
        c[1] += n_out
        c[2] += n_failed

    def get(self) -> dict[str, list[int]]:
        return self.counts


class _RemoteReporter:
    """Forwards part counts to the counter actor without waiting."""

    def __init__(self, actor: Any):
        self.actor = actor

    def report(self, stage_id: str, n_in: int, n_out: int, n_failed: int) -> None:
        self.actor.report.remote(stage_id, n_in, n_out, n_failed)


class PartFn:
    """The ``map_batches`` callable of one stage: run and commit a part, emit rows or a summary."""

    def __init__(self, task: StageTask, skip: frozenset[str], reporter: Any, emit: str):
        self.task, self.skip, self.reporter, self.emit = task, skip, reporter, emit

    def __call__(self, batch: pa.Table) -> pa.Table:
        if "shard" in batch.column_names:
            inputs: list[Any] = batch.column("shard").to_pylist()
        else:
            inputs = batch.select(EPISODE_SCHEMA.names).to_pylist()
        out = run_part(self.task, inputs, self.skip, self.reporter)
        if self.emit == "rows":
            return out
        return pa.Table.from_pylist([{"stage_id": self.task.stage_id, "part": "", "n_in": len(inputs),
                                      "n_out": out.num_rows, "n_failed": 0}], schema=SUMMARY_SCHEMA)


class _ReadPart:
    """``map_batches`` callable: the committed outputs of the part files named in a batch."""

    def __init__(self, fs: Any, excluded: dict[str, list[str]]):
        self.fs, self.excluded = fs, excluded

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        tables = []
        for path in batch.column("file").to_pylist():
            table = pq.read_table(path, filesystem=self.fs, schema=OUTPUT_SCHEMA)
            skip = self.excluded.get(path)
            if skip:
                table = table.filter(pc.invert(pc.is_in(table[INPUT_KEY_COLUMN], pa.array(skip))))
            tables.append(table)
        return pa.concat_tables(tables) if tables else OUTPUT_SCHEMA.empty_table()


def _read_committed(sp: StagePlan) -> Any:
    """A Ray dataset of a stage's committed outputs, read by tasks one part file at a time."""
    import ray.data

    committed = sp.dir.committed()
    files = committed.output_files
    if not files:
        return ray.data.from_arrow([OUTPUT_SCHEMA.empty_table()])
    excluded = {path: sorted(keys) for path, keys in committed.excluded.items()}
    return ray.data.from_items([{"file": f} for f in files], override_num_blocks=len(files)).map_batches(
        _ReadPart(sp.dir.parts.fs, excluded), batch_size=1, batch_format="pyarrow", num_cpus=0.25,
        max_retries=TASK_MAX_RETRIES)


def _map(sp: StagePlan, ds: Any, skip: frozenset[str], reporter: Any, emit: str, batch_size: int) -> Any:
    import ray.data

    spec = sp.spec
    res = spec.resources.ray_args()
    kwargs: dict[str, Any] = {"batch_size": batch_size, "batch_format": "pyarrow", "zero_copy_batch": True,
                              **res}
    fn_args = (sp.task, skip, reporter, emit)
    if spec.concurrency is not None or spec.stage_cls.use_actors:
        conc = spec.concurrency or (1, max(1, int((ray.cluster_resources().get("CPU", 1)) // max(res["num_cpus"], 0.01))))
        size = conc if isinstance(conc, tuple) else (conc, conc)
        kwargs["compute"] = ray.data.ActorPoolStrategy(min_size=size[0], max_size=size[1])
        kwargs.update(max_restarts=-1, max_task_retries=-1)
        return ds.map_batches(PartFn, fn_constructor_args=fn_args, **kwargs)
    kwargs["max_retries"] = TASK_MAX_RETRIES
    return ds.map_batches(PartFn(*fn_args), **kwargs)


def _poll(counter: Any, board: ProgressBoard, base: dict[str, list[int]], stop: threading.Event) -> None:
    import ray

    while not stop.wait(0.5):
        try:
            counts = ray.get(counter.get.remote(), timeout=5)
        except Exception:
            continue
        for sid, (n_in, n_out, n_failed) in counts.items():
            b = base.get(sid, [0, 0, 0])
            board.set_totals(sid, b[0] + n_in, b[1] + n_out, b[2] + n_failed)


def execute_ray(plan: RunPlan, board: ProgressBoard) -> None:
    """Run every incomplete stage of ``plan`` on the connected Ray cluster."""
    import ray
    import ray.data

    _configure_ray_data()
    counter = ray.remote(num_cpus=0)(_Counter).remote()
    reporter = _RemoteReporter(counter)
    base = {sp.spec.id: [sp.counts.n_in, sp.counts.n_out, sp.counts.n_failed] for sp in plan.stages}
    for sid, b in base.items():
        board.set_totals(sid, *b)
    stop = threading.Event()
    poller = threading.Thread(target=_poll, args=(counter, board, base, stop), daemon=True)
    poller.start()
    outputs: dict[str, Any] = {}
    try:
        for sp in plan.stages:
            if sp.complete_before:
                outputs[sp.spec.id] = _read_committed(sp)
                continue
            committed = sp.dir.committed()
            done = frozenset(committed.done_keys)
            emit = "rows" if sp.mode == "stream" else "summary"
            if sp.spec.kind == "source":
                shards = source_shards(sp, set(done))
                board.set_total(sp.spec.id, len(shards) + len(done))
                items = ray.data.from_items([{"shard": s} for s in shards] or [{"shard": "__none__"}],
                                            override_num_blocks=max(1, len(shards)))
                if not shards:
                    items = items.limit(0)
                new = _map(sp, items, done, reporter, emit, batch_size=1)
            else:
                ups = [outputs[n] for n in sp.spec.needs]
                inputs = ups[0].union(*ups[1:]) if len(ups) > 1 else ups[0]
                new = _map(sp, inputs, done, reporter, emit, sp.spec.batch_size)
            if sp.mode == "stream":
                outputs[sp.spec.id] = new.union(_read_committed(sp)) if committed.output_files else new
                continue
            started = time.perf_counter()
            segment = plan.segment(sp.spec.id)
            try:
                for _ in new.iter_batches(batch_size=None, batch_format="pyarrow"):
                    pass
            except Exception as exc:
                for s in segment:
                    s.status = "failed"
                raise StageFailed(sp.spec.id, _ray_error_text(exc)) from exc
            finish_segment(plan, segment, started)
            for s in segment:
                board.finish(s.spec.id, s.counts.n_in, s.counts.n_out, s.counts.n_failed)
            outputs[sp.spec.id] = _read_committed(sp)
    finally:
        stop.set()
        poller.join(timeout=2)
        final = {}
        try:
            final = ray.get(counter.get.remote(), timeout=5)
        except Exception:
            pass
        for sid, (n_in, n_out, n_failed) in final.items():
            b = base.get(sid, [0, 0, 0])
            board.set_totals(sid, b[0] + n_in, b[1] + n_out, b[2] + n_failed)
        ray.kill(counter)


def _ray_error_text(exc: BaseException) -> str:
    """The innermost useful message of an exception raised through Ray Data."""
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 20:
        chain.append(chain[-1].__cause__)
    for cause in reversed(chain):
        lines = [ln for ln in str(cause).strip().splitlines() if ln.strip()]
        if lines:
            return f"{type(cause).__name__}: {lines[-1]}"
    return type(exc).__name__

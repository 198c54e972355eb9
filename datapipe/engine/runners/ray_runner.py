"""The Ray runner: a run plan compiled onto Ray Data.

Each incomplete chain of stages (:mod:`datapipe.engine.plan`) becomes one ``map_batches`` over the
inputs of its first stage (the union of its needs' outputs; for a source, its unread shard
names) with the chain's resources; a stage with ``concurrency`` (or ``use_actors``) runs alone
on an actor pool, other chains as Ray tasks. Each batch runs through the whole chain and is
committed on the worker (:func:`datapipe.engine.execution.commit_chain`). Streamed chains feed their single
consumer directly; committed chain ends (leaves, sinks, fan-out points) are executed to the end
and their consumers read the committed parts. Outputs committed by an earlier,
interrupted run are read back and unioned with the new stream, so resume is per episode.

Progress bars are fed from the committed receipts by a driver thread, so what they show is what
is durable. Worker failures are Ray's: tasks are retried (``max_retries``) and actors restarted, and a
retried batch rewrites the same part.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from datapipe.engine.execution import SUMMARY_SCHEMA, commit_chain
from datapipe.engine.plan import RunPlan, StagePlan, chain_resources
from datapipe.engine.progress import ProgressBoard
from datapipe.engine.rundir import OUTPUT_SCHEMA, StaleRunError, iter_part
from datapipe.engine.runners.common import StageFailed, finish_segment, source_shards
from datapipe.engine.runners.ray_cluster import ClusterError, configure_ray_data
from datapipe.engine.stage_task import StageSetupError, StageTask
from datapipe.errors import is_bad_input
from datapipe.schemas.episode import EPISODE_SCHEMA

TASK_MAX_RETRIES = 5


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def check_resources(plan: RunPlan) -> None:
    """Refuse, before anything runs, a chain whose workers fit on no node of the connected
    cluster, or an actor pool larger than the cluster (Ray would wait for them forever)."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    total = ray.cluster_resources()
    largest = {k: max((n.get(k, 0.0) for n in nodes), default=0.0) for k in ("CPU", "GPU", "memory")}
    for chain in plan.chains:
        if chain[-1].complete_before:
            continue
        res = chain_resources([sp.spec for sp in chain])
        ids = "+".join(repr(sp.spec.id) for sp in chain)
        fits = any(
            n.get("CPU", 0.0) >= res.cpus
            and n.get("GPU", 0.0) >= res.gpus
            and (res.memory is None or n.get("memory", 0.0) >= res.memory)
            for n in nodes
        )
        if not fits:
            raise ClusterError(
                f"stage {ids}: field 'resources': a worker asks for cpus={_fmt(res.cpus)}, "
                f"gpus={_fmt(res.gpus)}, memory={_fmt(res.memory)}; no node of the cluster has that "
                f"(the largest offer cpus={_fmt(largest['CPU'])}, gpus={_fmt(largest['GPU'])}, "
                f"memory={_fmt(largest['memory'])})"
            )
        spec = chain[0].spec
        if spec.concurrency is not None:
            low = spec.concurrency[0] if isinstance(spec.concurrency, tuple) else spec.concurrency
            for key, per in (("CPU", res.cpus), ("GPU", res.gpus)):
                if per and low * per > total.get(key, 0.0) + 1e-9:
                    raise ClusterError(
                        f"stage {spec.id!r}: field 'concurrency': {low} workers x {per:g} {key} "
                        f"= {low * per:g} {key}, the cluster has {total.get(key, 0.0):g}"
                    )


_REDIRECTED: list[str] = []


def worker_output_to_run_dir(run_uri: str) -> None:
    """In a worker process, once: send its stdout and stderr (MediaPipe's and TFLite's C++ logs,
    protobuf and absl warnings, a stage's prints) to ``RUN/logs/worker-<host>-<pid>.log`` so the
    console shows datapipe's progress and real errors only. Run directories on object stores keep
    the output in Ray's own worker logs. Not for the driver (its console is the user's)."""
    if _REDIRECTED:
        return
    _REDIRECTED.append(run_uri)
    if "://" in run_uri and not run_uri.startswith("file://"):
        return
    folder = os.path.join(run_uri.removeprefix("file://"), "logs")
    try:
        os.makedirs(folder, exist_ok=True)
        log = os.open(
            os.path.join(folder, f"worker-{socket.gethostname()}-{os.getpid()}.log"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o644,
        )
    except OSError:
        return  # a run directory this node cannot write: output stays in Ray's logs
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


class ChainFn:
    """The ``map_batches`` callable of one chain: run and commit a part, emit rows or a summary."""

    def __init__(self, tasks: list[StageTask], skip: frozenset[str], emit: str, driver_pid: int):
        self.tasks, self.skip, self.emit, self.driver_pid = tasks, skip, emit, driver_pid

    def __call__(self, batch: pa.Table) -> Iterator[pa.Table]:
        if os.getpid() != self.driver_pid:
            worker_output_to_run_dir(self.tasks[0].run_uri)
        inputs: list[Any] | pa.Table = (
            batch.column("shard").to_pylist() if "shard" in batch.column_names else batch.select(EPISODE_SCHEMA.names)
        )
        # committed first, then emitted from the part file a row group at a time: nothing flows on
        # before the commit, and the outputs of a long batch are never in memory together
        path, rows = commit_chain(self.tasks, inputs, self.skip)
        if self.emit == "rows":
            if path is None:
                yield OUTPUT_SCHEMA.empty_table()
            else:
                yield from iter_part(path, self.tasks[-1].stage_dir().parts.fs)
            return
        row = {"stage_id": self.tasks[-1].stage_id, "part": "", "n_in": len(inputs), "n_out": rows, "n_failed": 0}
        yield pa.Table.from_pylist([row], schema=SUMMARY_SCHEMA)


class _ReadPart:
    """``map_batches`` callable: the committed outputs of the part files named in a batch."""

    def __init__(self, fs: Any, excluded: dict[str, list[str]]):
        self.fs, self.excluded = fs, excluded

    def __call__(self, batch: pa.Table) -> Iterator[pa.Table]:
        empty = True
        for path in batch.column("file").to_pylist():
            for table in iter_part(path, self.fs, self.excluded.get(path, ())):
                empty = False
                yield table  # a row group at a time
        if empty:
            yield OUTPUT_SCHEMA.empty_table()


def _read_committed(sp: StagePlan) -> Any:
    """A Ray dataset of a stage's committed outputs, read by tasks one part file at a time."""
    import ray.data

    committed = sp.dir.committed()
    files = committed.output_files
    if not files:
        return ray.data.from_arrow([OUTPUT_SCHEMA.empty_table()])
    excluded = {path: sorted(keys) for path, keys in committed.excluded.items()}
    return ray.data.from_items([{"file": f} for f in files], override_num_blocks=len(files)).map_batches(
        _ReadPart(sp.dir.parts.fs, excluded),
        batch_size=1,
        batch_format="pyarrow",
        num_cpus=0.25,
        max_retries=TASK_MAX_RETRIES,
    )


def _map(chain: list[StagePlan], ds: Any, skip: frozenset[str], emit: str, batch_size: int) -> Any:
    import ray.data

    spec = chain[0].spec  # an actor-pool stage is alone in its chain
    res = chain_resources([sp.spec for sp in chain]).ray_args()
    kwargs: dict[str, Any] = {"batch_size": batch_size, "batch_format": "pyarrow", "zero_copy_batch": True, **res}
    fn_args = ([sp.task for sp in chain], skip, emit, os.getpid())
    if spec.concurrency is not None or spec.stage_cls.use_actors:
        fits = int(ray.cluster_resources().get("CPU", 1) // max(res["num_cpus"], 0.01))
        if spec.concurrency is None:  # use_actors without a size: autoscale up to what fits
            size = (1, max(1, fits))
        elif isinstance(spec.concurrency, tuple):
            size = spec.concurrency
        else:
            size = (spec.concurrency, spec.concurrency)
        if spec.kind != "source" and size[0] >= fits:
            # a pool that starts on every CPU leaves none for the upstream tasks that feed it, and
            # Ray Data waits forever: start one short of that and let it grow when there is room
            size = (max(1, fits - 1), max(size[1], 1))
        kwargs["compute"] = ray.data.ActorPoolStrategy(min_size=size[0], max_size=size[1])
        kwargs.update(max_restarts=-1, max_task_retries=-1)
        return ds.map_batches(ChainFn, fn_constructor_args=fn_args, **kwargs)
    kwargs["max_retries"] = TASK_MAX_RETRIES
    if spec.kind == "source":
        # Keep a source out of operator fusion with its consumers: fused, Ray Data bundles the
        # one-row shard blocks up to the consumer's batch_size and reads many shards in one task,
        # serially. Unfused, each shard is its own task and its episodes flow on in parallel.
        # (Remote args that differ prevent fusion; retry_exceptions=False is Ray's default.)
        kwargs["retry_exceptions"] = False
    return ds.map_batches(ChainFn(*fn_args), **kwargs)


class _ReceiptPoller:
    """Driver thread: progress bars from the receipts workers commit (the run's ground truth).

    Reads each new receipt once; no actor, no messages from workers.
    """

    def __init__(self, plan: RunPlan, board: ProgressBoard, interval_s: float = 0.5):
        self.plan, self.board, self.interval_s = plan, board, interval_s
        self.tails = [chain[-1] for chain in plan.chains]
        self.seen: dict[str, set[str]] = {sp.spec.id: set() for sp in self.tails}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        for sp in self.tails:  # what earlier runs committed is already counted
            self.seen[sp.spec.id] = {loc.path for loc in sp.dir.parts.list(".json")}
        for sp in self.plan.stages:
            self.board.set_totals(sp.spec.id, sp.counts.n_in, sp.counts.n_out, sp.counts.n_failed)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        while not self.stop.wait(self.interval_s):
            for sp in self.tails:
                if sp.complete_before:
                    continue
                try:
                    new = [loc for loc in sp.dir.parts.list(".json") if loc.path not in self.seen[sp.spec.id]]
                    for loc in new:
                        r = json.loads(loc.read_bytes())
                        self.seen[sp.spec.id].add(loc.path)
                        for stage_id, entry in (*r.get("chain", {}).items(), (sp.spec.id, r)):
                            self.board.report(stage_id, entry["n_in"], entry["n_out"], entry["n_failed"])
                except (OSError, ValueError):
                    continue  # a listing raced a rename; the next round sees it


def execute_ray(plan: RunPlan, board: ProgressBoard) -> None:
    """Run every incomplete stage of ``plan`` on the connected Ray cluster."""
    import ray
    import ray.data

    configure_ray_data()
    poller = _ReceiptPoller(plan, board)
    poller.start()
    outputs: dict[str, Any] = {}
    try:
        for chain in plan.chains:
            head, tail = chain[0], chain[-1]
            if tail.complete_before:
                outputs[tail.spec.id] = _read_committed(tail)
                continue
            committed = tail.dir.committed()
            done = frozenset(committed.chain_done)
            emit = "rows" if tail.mode == "stream" else "summary"
            if head.spec.kind == "source":
                shards = source_shards(head, set(done))
                items = ray.data.from_items(
                    [{"shard": s} for s in shards] or [{"shard": "__none__"}], override_num_blocks=max(1, len(shards))
                )
                if not shards:
                    items = items.limit(0)
                new = _map(chain, items, done, emit, batch_size=1)
            else:
                ups = [outputs[n] for n in head.spec.needs]
                inputs = ups[0].union(*ups[1:]) if len(ups) > 1 else ups[0]
                new = _map(chain, inputs, done, emit, head.spec.batch_size)
            if tail.mode == "stream":
                outputs[tail.spec.id] = new.union(_read_committed(tail)) if committed.output_files else new
                continue
            started = time.perf_counter()
            segment = plan.segment(tail.spec.id)
            try:
                for _ in new.iter_batches(batch_size=None, batch_format="pyarrow"):
                    pass
            except Exception as exc:
                for s in segment:
                    s.status = "failed"
                stage_id, text, bad_input = _ray_error_text(exc)
                raise StageFailed(stage_id or tail.spec.id, text, bad_input) from exc
            finish_segment(plan, segment, started)
            for s in segment:
                board.finish(s.spec.id, s.counts.n_in, s.counts.n_out, s.counts.n_failed)
            outputs[tail.spec.id] = _read_committed(tail)
    finally:
        poller.close()


def _ray_error_text(exc: BaseException) -> tuple[str | None, str, bool]:
    """The failing stage (when a worker's setup failed), the innermost useful message of an
    exception raised through Ray Data, and whether it was bad input."""
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 20:
        chain.append(chain[-1].__cause__)
    for cause in chain:
        if isinstance(cause, StageSetupError):
            return cause.stage_id, cause.detail, cause.bad_input
        if isinstance(cause, StaleRunError):  # fenced out by a newer run: say so, not Ray's retries
            original = getattr(cause, "cause", None)  # Ray's task error keeps the raised one here
            text = str(original) if isinstance(original, StaleRunError) else str(cause).strip().splitlines()[-1]
            return None, text, False
    for cause in reversed(chain):
        lines = [ln for ln in str(cause).strip().splitlines() if ln.strip()]
        if lines:
            return None, f"{type(cause).__name__}: {lines[-1]}", is_bad_input(cause)
    return None, type(exc).__name__, False

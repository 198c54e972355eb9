"""Running a chain of stages over one batch of inputs and committing the result as a part.

This is the unit of work both runners share: the local runner calls :func:`run_chain` in a loop,
the Ray runner calls it inside ``map_batches`` on workers. It knows nothing of Ray.

Per input and stage it calls the stage, catches any exception (the input goes to quarantine with stage,
error type, message and traceback; the batch goes on), checks outputs are episodes, appends the
stage's lineage entry, and commits outputs + failures + receipt atomically under a part name
derived from the input keys (so a retried batch rewrites the same part, never a second one).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from datapipe.errors import is_bad_input
from datapipe.hashing import keys_hash
from datapipe.ownership import check_sink_claim
from datapipe.record_arrow import episode_to_row, row_to_episode
from datapipe.records import Episode, LineageEntry, RecordError
from datapipe.rundir import (
    INPUT_KEY_COLUMN,
    OUTPUT_SCHEMA,
    QUARANTINE_SCHEMA,
    RunDir,
    StageDir,
)
from datapipe.stage import SinkStage, SourceStage, Stage, Transform, Unreadable

SUMMARY_SCHEMA = pa.schema(
    [
        ("stage_id", pa.string()),
        ("part", pa.string()),
        ("n_in", pa.int64()),
        ("n_out", pa.int64()),
        ("n_failed", pa.int64()),
    ]
)


class ProgressReporter(Protocol):
    """Receives counts of each committed part (a Ray actor handle or a local object)."""

    def report(self, stage_id: str, n_in: int, n_out: int, n_failed: int) -> Any: ...


@dataclass(frozen=True)
class StageTask:
    """Everything a worker needs to run one stage of a run (picklable, small)."""

    stage_id: str
    uses: str
    stage_cls: type[Stage]
    config: Any
    config_hash: str
    run_uri: str
    out_hash: str
    epoch: str = ""

    @property
    def lineage(self) -> LineageEntry:
        return LineageEntry(stage=self.uses, version=self.stage_cls.version, config_hash=self.config_hash)

    def stage_dir(self) -> StageDir:
        return RunDir(self.run_uri).stage(self.stage_id, self.out_hash)

    def check_epoch(self) -> None:
        """Refuse to go on if a newer run took over the run directory (fencing)."""
        if self.epoch:
            RunDir(self.run_uri).check_epoch(self.epoch)


# Stage objects with setup() done, per worker process: setup runs once per process and stage.
_READY: dict[tuple[str, str, str], Stage] = {}


class StageSetupError(RuntimeError):
    """A stage could not be created or set up on a worker (this fails the stage, not an input)."""

    def __init__(self, stage_id: str, detail: str, bad_input: bool = False):
        super().__init__(stage_id, detail, bad_input)  # args as given, so it pickles across Ray
        self.stage_id, self.detail, self.bad_input = stage_id, detail, bad_input

    def __str__(self) -> str:
        return f"stage {self.stage_id!r} {self.detail}"


def ready_stage(task: StageTask) -> Stage:
    """This process's stage object for ``task``, created and set up on first use."""
    key = (task.run_uri, task.stage_id, task.out_hash)
    stage = _READY.get(key)
    if stage is None:
        try:
            stage = task.stage_cls(task.config)
            stage.setup()
        except Exception as exc:
            raise StageSetupError(
                task.stage_id, f"setup failed: {type(exc).__name__}: {exc}", is_bad_input(exc)
            ) from exc
        _READY[key] = stage
    return stage


@dataclass(frozen=True)
class Failure:
    """One input that raised."""

    key: str
    error: BaseException
    trace: str
    episode: Episode | None


def _failure(key: str, exc: BaseException, episode: Episode | None) -> Failure:
    return Failure(key, exc, "".join(traceback.format_exception(exc)), episode)


def _check_outputs(outputs: Iterable[Episode] | None, stage: Stage, key: str) -> list[Episode]:
    result = list(outputs or [])
    for out in result:
        if not isinstance(out, Episode):
            raise TypeError(
                f"{type(stage).__name__} produced {type(out).__name__} for input {key!r}; "
                f"stages must yield Episode objects"
            )
    ids = [o.episode_id for o in result]
    if len(set(ids)) != len(ids):
        raise RecordError(
            f"{type(stage).__name__} produced duplicate episode ids for input {key!r}; "
            f"fan-out outputs need distinct ids (datapipe.records.make_episode_id)"
        )
    return result


def _failures_table(task: StageTask, failures: list[Failure]) -> pa.Table:
    rows = [
        {
            "stage_id": task.stage_id,
            "stage": task.uses,
            "input_key": f.key,
            "error_type": type(f.error).__name__,
            "error_message": str(f.error)[:10_000],
            "traceback": f.trace[-20_000:],
            "episode": episode_to_row(f.episode) if f.episode is not None else None,
        }
        for f in failures
    ]
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


def _decode_inputs(rows: list[dict[str, Any]]) -> tuple[list[tuple[str, Episode]], list[Failure]]:
    good, bad = [], []
    for row in rows:
        key = row["episode_id"]
        try:
            good.append((key, row_to_episode(row)))
        except Exception as exc:  # a malformed row is that input's failure, not the batch's
            bad.append(_failure(key, exc, None))
    return good, bad


@dataclass
class _StepResult:
    """What one stage of a chain did with its inputs."""

    keys: list[str]
    outputs: list[tuple[str, Episode]]
    failures: list[Failure]
    sink_receipt: dict[str, Any] | None
    duration_s: float
    n_in: int | None = None  # a source's items; other stages consume their keys


def _run_stage(
    task: StageTask, stage: Stage, items: list[tuple[str, Episode]], keys: list[str], failures: list[Failure], part: str
) -> _StepResult:
    """Run one transform or sink over decoded ``items`` (``(input key, episode)``)."""
    started = time.perf_counter()
    outputs: list[tuple[str, Episode]] = []
    sink_receipt = None
    if isinstance(stage, Transform):
        for key, episode in items:
            try:
                outputs.extend((key, e) for e in _check_outputs(stage.process(episode), stage, key))
            except Exception as exc:
                failures.append(_failure(key, exc, episode))
    elif isinstance(stage, SinkStage):
        task.check_epoch()
        check_sink_claim(stage, task.stage_id, task.run_uri)
        stage.take_rejected()
        try:
            if items:
                sink_receipt = stage.write([e for _, e in items], part)
            key_of = {id(e): k for k, e in items}
            failures.extend(_failure(key_of[id(e)], exc, e) for e, exc in stage.take_rejected())
        except Exception as exc:  # a write that raised fails every input of the batch
            stage.take_rejected()
            failures.extend(_failure(k, exc, e) for k, e in items)
            sink_receipt = None
    else:
        raise TypeError(f"{task.uses}: unknown stage kind {type(stage).__mro__}")
    return _StepResult(keys, outputs, failures, sink_receipt, time.perf_counter() - started)


def _read_shards(stage: SourceStage, shards: list[str]) -> _StepResult:
    """Read ``shards``: an :class:`~datapipe.stage.Unreadable` item costs that item (quarantined
    as ``<shard>#<item>``), an exception out of ``read`` the rest of its shard; episodes read
    before it are kept. ``n_in`` counts items: episodes read plus failures."""
    started = time.perf_counter()
    outputs: list[tuple[str, Episode]] = []
    failures: list[Failure] = []
    for shard in shards:
        seen: set[str] = set()
        try:
            for item in stage.read(shard):
                if isinstance(item, Unreadable):
                    failures.append(_failure(f"{shard}#{item.key}", item.error, None))
                    continue
                (ep,) = _check_outputs([item], stage, shard)
                if ep.episode_id in seen:
                    raise RecordError(
                        f"{type(stage).__name__} produced duplicate episode id {ep.episode_id!r} in shard {shard!r}"
                    )
                seen.add(ep.episode_id)
                outputs.append((shard, ep))
        except Exception as exc:
            failures.append(_failure(shard, exc, None))
    return _StepResult(
        shards, outputs, failures, None, time.perf_counter() - started, n_in=len(outputs) + len(failures)
    )


def _receipt(task: StageTask, part: str, step: _StepResult, is_sink: bool) -> dict[str, Any]:
    per_key: dict[str, int] = {}
    for key, _ in step.outputs:
        per_key[key] = per_key.get(key, 0) + 1
    return {
        "part": part,
        "stage_id": task.stage_id,
        "input_keys": step.keys,
        "n_in": len(step.keys) if step.n_in is None else step.n_in,
        "n_out": len(step.keys) - len(step.failures) if is_sink else len(step.outputs),
        "n_failed": len(step.failures),
        "outputs_per_key": per_key,
        "duration_s": step.duration_s,
        "sink": step.sink_receipt,
    }


def run_chain(
    tasks: list[StageTask],
    inputs: list[str] | list[dict[str, Any]],
    skip_keys: frozenset[str] = frozenset(),
    reporter: ProgressReporter | None = None,
) -> pa.Table:
    """Run a chain of stages over one batch in this process and commit it. Return the output rows
    of the chain's last stage.

    ``inputs`` are shard names when the chain starts with a source, episode rows
    (``EPISODE_SCHEMA`` dicts) otherwise. Inputs whose key is in ``skip_keys`` (done in an earlier
    run) are dropped first. Episodes pass from stage to stage as objects, each stage appending its
    lineage entry. Everything is committed under one part name derived from the batch's input
    keys: each stage's quarantine, then the last stage's outputs, then its receipt, which is the
    commit point of the whole batch: it lists the batch's input keys (``chain_keys``) and every
    fused stage's counts (``chain``). The returned table has
    ``OUTPUT_SCHEMA`` (episode rows plus the input key each came from); for sinks it is empty.
    """
    stages = [ready_stage(t) for t in tasks]
    head = stages[0]
    if isinstance(head, SourceStage):
        keys = [k for k in inputs if k not in skip_keys]
        if not keys:
            return OUTPUT_SCHEMA.empty_table()
        part = f"part-{keys_hash(keys)}"
        steps = [_read_shards(head, keys)]
    else:
        rows = [r for r in inputs if r["episode_id"] not in skip_keys]
        keys = [r["episode_id"] for r in rows]
        if not keys:
            return OUTPUT_SCHEMA.empty_table()
        part = f"part-{keys_hash(keys)}"
        decoded, bad = _decode_inputs(rows)
        steps = [_run_stage(tasks[0], head, decoded, keys, bad, part)]
    for task, stage, prev_task in zip(tasks[1:], stages[1:], tasks):
        lineage = prev_task.lineage
        items = [(e.episode_id, e.with_lineage(lineage)) for _, e in steps[-1].outputs]
        steps.append(_run_stage(task, stage, items, [k for k, _ in items], [], part))
    tasks[-1].check_epoch()
    tail, last = tasks[-1], steps[-1]
    is_sink = isinstance(stages[-1], SinkStage)
    entries = [_receipt(task, part, step, task is tail and is_sink) for task, step in zip(tasks, steps)]
    for task, step in zip(tasks[:-1], steps):  # fused stages: quarantine now, counts in the receipt
        if step.failures:
            task.stage_dir().write_quarantine(part, _failures_table(task, step.failures))
    out_rows = []
    if not is_sink:
        lineage = tail.lineage
        for key, ep in last.outputs:
            row = episode_to_row(ep.with_lineage(lineage))
            row[INPUT_KEY_COLUMN] = key
            out_rows.append(row)
    out_table = pa.Table.from_pylist(out_rows, schema=OUTPUT_SCHEMA)
    chain = {task.stage_id: entry for task, entry in zip(tasks[:-1], entries)}
    receipt = {**entries[-1], "chain_keys": keys, "chain": chain}
    tail.stage_dir().commit_part(
        part, receipt, None if is_sink else out_table, _failures_table(tail, last.failures) if last.failures else None
    )
    if reporter is not None:
        for task, r in zip(tasks, entries):
            reporter.report(task.stage_id, r["n_in"], r["n_out"], r["n_failed"])
    return out_table


def task_for(spec: Any, run_uri: str, out_hash: str, epoch: str = "") -> StageTask:
    """The :class:`StageTask` of a workflow stage spec in a run."""
    return StageTask(
        stage_id=spec.id,
        uses=spec.uses,
        stage_cls=spec.stage_cls,
        config=spec.config,
        config_hash=spec.config_hash,
        run_uri=run_uri,
        out_hash=out_hash,
        epoch=epoch,
    )

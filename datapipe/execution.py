"""Running one stage over one batch of inputs and committing the result as a part.

This is the unit of work both runners share: the local runner calls :func:`run_part` in a loop,
the Ray runner calls it inside ``map_batches`` on workers. It knows nothing of Ray.

Per input it calls the stage, catches any exception (the input goes to quarantine with stage,
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

from datapipe.hashing import keys_hash
from datapipe.record_arrow import episode_to_row, row_to_episode
from datapipe.records import Episode, LineageEntry, RecordError
from datapipe.rundir import INPUT_KEY_COLUMN, OUTPUT_SCHEMA, QUARANTINE_SCHEMA, RunDir, StageDir
from datapipe.stage import SinkStage, SourceStage, Stage, Transform

SUMMARY_SCHEMA = pa.schema([("stage_id", pa.string()), ("part", pa.string()), ("n_in", pa.int64()),
                            ("n_out", pa.int64()), ("n_failed", pa.int64())])


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


def ready_stage(task: StageTask) -> Stage:
    """This process's stage object for ``task``, created and set up on first use."""
    key = (task.run_uri, task.stage_id, task.out_hash)
    stage = _READY.get(key)
    if stage is None:
        stage = task.stage_cls(task.config)
        stage.setup()
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
            raise TypeError(f"{type(stage).__name__} produced {type(out).__name__} for input {key!r}; "
                            f"stages must yield Episode objects")
    ids = [o.episode_id for o in result]
    if len(set(ids)) != len(ids):
        raise RecordError(f"{type(stage).__name__} produced duplicate episode ids for input {key!r}; "
                          f"fan-out outputs need distinct ids (datapipe.records.make_episode_id)")
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


def run_part(
    task: StageTask,
    inputs: list[str] | list[dict[str, Any]],
    skip_keys: frozenset[str] = frozenset(),
    reporter: ProgressReporter | None = None,
) -> pa.Table:
    """Run ``task``'s stage over one batch and commit it. Return the output rows.

    ``inputs`` are shard names for a source, episode rows (``EPISODE_SCHEMA`` dicts) otherwise.
    Inputs whose key is in ``skip_keys`` (done in an earlier run) are dropped first. The returned
    table has ``OUTPUT_SCHEMA`` (episode rows plus the input key each came from); for sinks it is
    empty.
    """
    stage = ready_stage(task)
    started = time.perf_counter()
    failures: list[Failure] = []
    outputs: list[tuple[str, Episode]] = []
    sink_receipt: dict[str, Any] | None = None
    if isinstance(stage, SourceStage):
        keys = [k for k in inputs if k not in skip_keys]
        for shard in keys:
            try:
                outputs.extend((shard, e) for e in _check_outputs(stage.read(shard), stage, shard))
            except Exception as exc:
                failures.append(_failure(shard, exc, None))
    else:
        rows = [r for r in inputs if r["episode_id"] not in skip_keys]
        decoded, failures = _decode_inputs(rows)
        keys = [r["episode_id"] for r in rows]
        if isinstance(stage, Transform):
            for key, episode in decoded:
                try:
                    outputs.extend((key, e) for e in _check_outputs(stage.process(episode), stage, key))
                except Exception as exc:
                    failures.append(_failure(key, exc, episode))
        elif isinstance(stage, SinkStage):
            task.check_epoch()
            try:
                if decoded:
                    sink_receipt = stage.write([e for _, e in decoded], f"part-{keys_hash(keys)}")
            except Exception as exc:  # a failed write fails every input of the batch
                failures.extend(_failure(k, exc, e) for k, e in decoded)
                sink_receipt = None
        else:
            raise TypeError(f"{task.uses}: unknown stage kind {type(stage).__mro__}")
    if not keys:
        return OUTPUT_SCHEMA.empty_table()
    part = f"part-{keys_hash(keys)}"
    lineage = task.lineage
    out_rows = []
    per_key: dict[str, int] = {}
    for key, ep in outputs:
        row = episode_to_row(ep.with_lineage(lineage))
        row[INPUT_KEY_COLUMN] = key
        out_rows.append(row)
        per_key[key] = per_key.get(key, 0) + 1
    out_table = pa.Table.from_pylist(out_rows, schema=OUTPUT_SCHEMA)
    n_out = out_table.num_rows if not isinstance(stage, SinkStage) else len(keys) - len(failures)
    receipt = {
        "part": part,
        "stage_id": task.stage_id,
        "input_keys": keys,
        "n_in": len(keys),
        "n_out": n_out,
        "n_failed": len(failures),
        "outputs_per_key": per_key,
        "duration_s": time.perf_counter() - started,
        "sink": sink_receipt,
    }
    task.check_epoch()
    task.stage_dir().commit_part(
        part,
        receipt,
        None if isinstance(stage, SinkStage) else out_table,
        _failures_table(task, failures) if failures else None,
    )
    if reporter is not None:
        reporter.report(task.stage_id, len(keys), n_out, len(failures))
    return out_table if not isinstance(stage, SinkStage) else OUTPUT_SCHEMA.empty_table()


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


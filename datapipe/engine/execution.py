"""Running a chain of stages over one batch of inputs and committing the result as a part.

This is the unit of work both runners share: the local runner calls :func:`commit_chain` in a
loop, the Ray runner calls it inside ``map_batches`` on workers. It knows nothing of Ray. A
batch goes through its chain in slices of about :data:`SLICE_BYTES` as its source reads it, so
memory holds what is in flight, not a whole batch or a whole source file.

Per input and stage it calls the stage, catches any exception (the input goes to quarantine with stage,
error type, message and traceback; the batch goes on), checks outputs are episodes, appends the
stage's lineage entry, and commits outputs + failures + receipt atomically under a part name
derived from the input keys (so a retried batch rewrites the same part, never a second one).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from datapipe.engine.hashing import keys_hash
from datapipe.engine.rundir import INPUT_KEY_COLUMN, OUTPUT_SCHEMA, QUARANTINE_SCHEMA
from datapipe.engine.stage import SinkStage, SourceStage, Stage, Transform, Unreadable
from datapipe.engine.stage_task import StageTask, ready_stage
from datapipe.formats.ownership import check_sink_claim
from datapipe.records import Episode, RecordError
from datapipe.records.arrow import episode_to_row, row_to_episode
from datapipe.schemas.episode import EPISODE_SCHEMA

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


def _episode_rows(inputs: list[dict[str, Any]] | pa.Table, skip_keys: frozenset[str]) -> list[Any] | pa.Table:
    """The inputs not in ``skip_keys``: dicts stay dicts, a table stays a table (``EPISODE_SCHEMA``
    columns)."""
    if not isinstance(inputs, pa.Table):
        return [r for r in inputs if r["episode_id"] not in skip_keys]
    table = inputs.select(EPISODE_SCHEMA.names)
    if skip_keys:
        import pyarrow.compute as pc

        table = table.filter(pc.invert(pc.is_in(table["episode_id"], pa.array(sorted(skip_keys), pa.string()))))
    return table


def _decoded(rows: list[dict[str, Any]] | pa.Table, totals: _StageTotals) -> Iterator[tuple[str, Episode]]:
    """``(episode id, episode)`` of episode ``rows``, decoded one at a time as they are used (a
    table's rows become Python objects one at a time too); a malformed row is that input's
    failure (in ``totals``), not the batch's."""
    each = rows if isinstance(rows, list) else (r for b in rows.to_batches(max_chunksize=1) for r in b.to_pylist())
    for row in each:
        key = row["episode_id"]
        try:
            episode = row_to_episode(row)
        except Exception as exc:
            totals.failures.append(_failure(key, exc, None))
            continue
        yield key, episode


SLICE_BYTES = 32 * 2**20
"""Episode payload (step arrays and encoded cameras) a batch holds at once: its episodes go
through the chain and are written in slices of about this size, as the source reads them, so
the clips of one long video never sit in memory together (a slice holds at least one episode)."""


BATCH_BYTES = SLICE_BYTES
"""Episode rows a runner gathers into one batch at most (besides the stage's ``batch_size``)."""


def slice_part(part: str, index: int) -> str:
    """The part name a sink writes slice ``index`` of batch ``part`` under (``part`` itself for
    the first, so a batch of one slice is named as before)."""
    return part if index == 0 else f"{part}-s{index:03d}"


@dataclass
class _StepResult:
    """What one stage of a chain did with one slice of its inputs."""

    keys: list[str]
    outputs: list[tuple[str, Episode]]
    failures: list[Failure]
    sink_receipt: dict[str, Any] | None
    duration_s: float


@dataclass
class _StageTotals:
    """What one stage of a chain did with the whole batch, slice after slice (the outputs
    themselves are passed on, only their count per input key is kept)."""

    keys: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    outputs_per_key: dict[str, int] = field(default_factory=dict)
    sink_receipts: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0
    n_in: int | None = None  # a source's items; other stages consume their keys

    def add(self, step: _StepResult) -> None:
        self.keys += step.keys
        self.failures += step.failures
        for key, _ in step.outputs:
            self.outputs_per_key[key] = self.outputs_per_key.get(key, 0) + 1
        if step.sink_receipt is not None:
            self.sink_receipts.append(step.sink_receipt)
        self.duration_s += step.duration_s


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


def _read_shards(stage: SourceStage, shards: list[str], totals: _StageTotals) -> Iterator[tuple[str, Episode]]:
    """``(shard, episode)`` of ``shards`` as ``stage`` reads them. An
    :class:`~datapipe.engine.stage.Unreadable` item costs that item (quarantined as
    ``<shard>#<item>``), an exception out of ``read`` the rest of its shard; episodes read
    before it are kept. ``totals`` gets the failures, the time spent reading and ``n_in``
    (episodes read plus failures)."""
    totals.keys, totals.n_in = list(shards), 0
    for shard in shards:
        seen: set[str] = set()
        items = iter(stage.read(shard))
        while True:
            started = time.perf_counter()
            try:
                item = next(items, None)
                if item is None:
                    break
                if isinstance(item, Unreadable):
                    totals.failures.append(_failure(f"{shard}#{item.key}", item.error, None))
                    totals.n_in += 1
                    continue
                (ep,) = _check_outputs([item], stage, shard)
                if ep.episode_id in seen:
                    raise RecordError(
                        f"{type(stage).__name__} produced duplicate episode id {ep.episode_id!r} in shard {shard!r}"
                    )
            except Exception as exc:
                totals.failures.append(_failure(shard, exc, None))
                totals.n_in += 1
                break
            finally:
                totals.duration_s += time.perf_counter() - started
            seen.add(ep.episode_id)
            totals.n_in += 1
            totals.outputs_per_key[shard] = totals.outputs_per_key.get(shard, 0) + 1
            yield shard, ep
            del item, ep  # not held while the next one is read


def _slices(items: Iterable[tuple[str, Episode]]) -> Iterator[list[tuple[str, Episode]]]:
    """``items`` in consecutive lists of about :data:`SLICE_BYTES` of payload (at least one)."""
    chunk: list[tuple[str, Episode]] = []
    size = 0
    for key, ep in items:
        chunk.append((key, ep))
        size += ep.payload_bytes
        if size >= SLICE_BYTES:
            del ep  # the slice is the only holder: freed once the chain is done with it
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _receipt(task: StageTask, part: str, step: _StageTotals, is_sink: bool) -> dict[str, Any]:
    return {
        "part": part,
        "stage_id": task.stage_id,
        "input_keys": step.keys,
        "n_in": len(step.keys) if step.n_in is None else step.n_in,
        "n_out": len(step.keys) - len(step.failures) if is_sink else sum(step.outputs_per_key.values()),
        "n_failed": len(step.failures),
        "outputs_per_key": step.outputs_per_key,
        "duration_s": step.duration_s,
        "sinks": step.sink_receipts,
    }


def commit_chain(
    tasks: list[StageTask],
    inputs: list[str] | list[dict[str, Any]] | pa.Table,
    skip_keys: frozenset[str] = frozenset(),
    reporter: ProgressReporter | None = None,
) -> tuple[str | None, int]:
    """Run a chain of stages over one batch in this process and commit it, without holding its
    outputs: return ``(path of the committed output file, its rows)`` (``None, 0`` for a sink or
    when there are no output rows).

    ``inputs`` are shard names when the chain starts with a source, episode rows otherwise
    (``EPISODE_SCHEMA`` dicts, or a table with those columns, decoded a row at a time). Inputs
    whose key is in ``skip_keys`` (done in an earlier run) are dropped first. Episodes pass from
    stage to stage as objects, each stage appending its lineage entry, in slices of about
    :data:`SLICE_BYTES` as the source reads them (or rows are decoded), so memory holds one
    slice whatever a batch or a source file holds: a sink writes each slice as its own part
    (:func:`slice_part`), the last stage's outputs go to its part file a row group per slice.
    Everything is committed under one part name derived from the batch's input keys: each
    stage's quarantine, then the last stage's outputs, then its receipt, which is the commit
    point of the whole batch: it lists the batch's input keys (``chain_keys``),
    every fused stage's counts (``chain``) and a sink's receipt of each slice (``sinks``). What a
    crash leaves before the receipt is replaced when the batch runs again. The output file has
    ``OUTPUT_SCHEMA`` (episode rows plus the input key each came from).
    """
    stages = [ready_stage(t) for t in tasks]
    totals = [_StageTotals() for _ in tasks]
    if isinstance(stages[0], SourceStage):
        keys = [k for k in inputs if k not in skip_keys]
        items: Iterable[tuple[str, Episode]] = _read_shards(stages[0], keys, totals[0])
        first = 1  # the source's totals come from reading
    else:
        rows = _episode_rows(inputs, skip_keys)
        keys = [r["episode_id"] for r in rows] if isinstance(rows, list) else rows.column("episode_id").to_pylist()
        items, first = _decoded(rows, totals[0]), 0
    if not keys:
        return None, 0
    part = f"part-{keys_hash(keys)}"
    tail = tasks[-1]
    is_sink = isinstance(stages[-1], SinkStage)
    output = None if is_sink else tail.stage_dir().output_writer(part)
    try:
        for index, sliced in enumerate(_slices(items)):
            chunk = list(sliced)
            sliced.clear()  # the slicer's own reference: the episodes die once the chain is done with them
            lineage = tasks[first - 1].lineage if first else None
            for i in range(first, len(tasks)):
                if lineage is not None:
                    chunk = [(e.episode_id, e.with_lineage(lineage)) for _, e in chunk]
                step = _run_stage(tasks[i], stages[i], chunk, [k for k, _ in chunk], [], slice_part(part, index))
                totals[i].add(step)
                chunk, lineage = step.outputs, tasks[i].lineage
                del step
            if output is not None and chunk:
                rows_out = [{**episode_to_row(e.with_lineage(tail.lineage)), INPUT_KEY_COLUMN: k} for k, e in chunk]
                del chunk
                output.write(pa.Table.from_pylist(rows_out, schema=OUTPUT_SCHEMA))
                del rows_out
            chunk = []  # nothing of this slice is held while the next is read
            pa.default_memory_pool().release_unused()  # and its buffers go back to the system
        if first == 0:
            totals[0].keys = keys  # every input row, the undecodable ones too
        tail.check_epoch()
        entries = [_receipt(task, part, step, task is tail and is_sink) for task, step in zip(tasks, totals)]
        for task, step in zip(tasks[:-1], totals):  # fused stages: quarantine now, counts in the receipt
            if step.failures:
                task.stage_dir().write_quarantine(part, _failures_table(task, step.failures))
        chain = {task.stage_id: entry for task, entry in zip(tasks[:-1], entries)}
        receipt = {**entries[-1], "chain_keys": keys, "chain": chain}
        last = totals[-1]
        failures = _failures_table(tail, last.failures) if last.failures else None
        written = (output.target.path, output.rows) if output is not None and output.rows else (None, 0)
        tail.stage_dir().commit_part(part, receipt, output, failures)
        output = None
    finally:
        if output is not None:
            output.abort()  # not committed: an error, or the consumer stopped early
    if reporter is not None:
        for task, r in zip(tasks, entries):
            reporter.report(task.stage_id, r["n_in"], r["n_out"], r["n_failed"])
    return written

"""What both runners share: preparing stages, finishing segments, error-rate policy."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa

from datapipe.engine import execution
from datapipe.engine.plan import RunPlan, StagePlan
from datapipe.engine.stage import SinkStage
from datapipe.errors import is_bad_input
from datapipe.formats.ownership import check_sink_claim
from datapipe.schemas.episode import EPISODE_SCHEMA


class StageFailed(RuntimeError):
    """A stage failed the run: its error rate passed ``max_error_rate``, or it raised outside
    ``process`` (in ``setup``, ``shards`` or ``finalize``). ``bad_input``: the cause was bad
    input (a dataset a source cannot read...), so the command exits 2 rather than 1."""

    def __init__(self, stage_id: str, message: str, bad_input: bool = False):
        super().__init__(f"stage {stage_id!r}: {message}")
        self.stage_id = stage_id
        self.bad_input = bad_input


def note_reused(plan: RunPlan) -> None:
    """Record, before execution, what earlier runs already committed for every stage."""
    for sp in plan.stages:
        committed = sp.committed()
        sp.parts_reused = len(committed.receipts)
        sp.counts = committed.counts
        if sp.complete_before:
            sp.status = "reused"
            sp.result = sp.dir.completion().get("result") or {}


def finish_segment(plan: RunPlan, segment: list[StagePlan], started: float) -> None:
    """After a committed stage (and the streamed stages feeding it) executed: count, check error
    rates, finalize sinks and mark the stages complete. Raise :class:`StageFailed` on a breach."""
    elapsed = time.perf_counter() - started
    order = {sp.spec.id: i for i, sp in enumerate(plan.stages)}
    segment = sorted(segment, key=lambda sp: order[sp.spec.id])
    committed = {}
    breaches = []
    for sp in segment:
        committed[sp.spec.id] = c = sp.committed()
        sp.counts = c.counts
        sp.parts_written = len(c.receipts) - sp.parts_reused
        sp.duration_s = elapsed
        if sp.counts.error_rate > sp.spec.max_error_rate:
            sp.status = "failed"
            breaches.append(sp)
    blocked = {sp.spec.id for sp in breaches}
    for sp in segment:  # topological: a stage downstream of a breach stays incomplete
        if sp.spec.id in blocked or any(n in blocked for n in sp.spec.needs):
            blocked.add(sp.spec.id)
            if sp.status != "failed":
                sp.status = "blocked"
            continue
        if issubclass(sp.spec.stage_cls, SinkStage):
            receipts = [
                s  # a batch written in slices has one sink receipt per slice ("sink": older runs)
                for r in committed[sp.spec.id].receipts
                for s in r.get("sinks", [r.get("sink")])
                if s is not None
            ]
            try:
                sink = sp.spec.instantiate()
                check_sink_claim(sink, sp.spec.id, plan.run.root.uri)
                sp.result = sink.finalize(receipts) or {}
            except Exception as exc:
                sp.status = "failed"
                raise StageFailed(
                    sp.spec.id, f"finalize failed: {type(exc).__name__}: {exc}", is_bad_input(exc)
                ) from exc
        sp.dir.mark_complete(
            {
                "counts": sp.counts.as_dict(),
                "result": sp.result,
                "parts": len(committed[sp.spec.id].receipts),
                "persisted": sp.mode != "fused",
            }
        )
        sp.status = "succeeded"
        if issubclass(sp.spec.stage_cls, SinkStage):
            sp.spec.instantiate().cleanup()
    if breaches:
        sp = breaches[0]
        c = sp.counts
        raise StageFailed(
            sp.spec.id,
            f"{c.n_failed} of {c.n_in} inputs failed ({c.error_rate:.1%}), above "
            f"max_error_rate {sp.spec.max_error_rate:.1%}; see {plan.run.root.uri}/quarantine/"
            f"{sp.dir.name}{first_failure(sp)}",
        )


def first_failure(sp: StagePlan) -> str:
    """``; the first: ErrorType: message`` of a stage's quarantine (empty if none is readable):
    the reason a user needs first, before opening the quarantine."""
    try:
        for loc in sorted(sp.dir.quarantine.list(".parquet"), key=lambda loc: loc.path):
            table = loc.read_parquet().select(["error_type", "error_message"]).slice(0, 1).to_pylist()
            if table:
                return f"; the first: {table[0]['error_type']}: {table[0]['error_message']}"
    except (OSError, KeyError, ValueError):
        pass
    return ""


def source_shards(sp: StagePlan, done: set[str]) -> list[str]:
    """A source's shard names not yet read, checked for duplicates."""
    try:
        shards = list(sp.spec.instantiate().shards())
    except Exception as exc:
        raise StageFailed(sp.spec.id, f"listing shards failed: {type(exc).__name__}: {exc}", is_bad_input(exc)) from exc
    if len(set(shards)) != len(shards):
        raise StageFailed(sp.spec.id, "shards() returned duplicate names")
    return [s for s in shards if s not in done]


def batched_tables(tables: Iterator[pa.Table], batch_size: int, max_bytes: int | None = None) -> Iterator[pa.Table]:
    """Episode rows of successive tables (``EPISODE_SCHEMA`` columns), in tables of
    ``batch_size`` rows, or fewer where the rows reach ``max_bytes`` first (a batch of long
    videos is not held whole in memory; a batch has at least one row). ``max_bytes`` defaults to
    :data:`datapipe.engine.execution.BATCH_BYTES`."""
    max_bytes = execution.BATCH_BYTES if max_bytes is None else max_bytes
    buf: list[pa.Table] = []
    rows = size = 0
    for table in tables:
        table = table.select(EPISODE_SCHEMA.names)
        for i in range(table.num_rows):
            row = table.slice(i, 1)
            buf.append(row)
            rows, size = rows + 1, size + row.nbytes
            if rows == batch_size or size >= max_bytes:
                yield pa.concat_tables(buf)  # zero-copy: the rows stay in the tables read
                buf, rows, size = [], 0, 0
    if buf:
        yield pa.concat_tables(buf)  # zero-copy: the rows stay in the tables read

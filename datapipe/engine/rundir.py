"""Run directories: content-addressed stage outputs, committed parts, quarantine and manifest.

Layout of a run directory ``RUN/``::

    RUN/manifest.json                           stages, hashes, counts, timings, package versions
    RUN/stages/<id>-<hash>/parts/<part>.parquet output episodes of one committed batch
    RUN/stages/<id>-<hash>/parts/<part>.json    its receipt: input keys, counts, duration (commit point)
    RUN/stages/<id>-<hash>/COMPLETE.json        written once every input of the stage is done
    RUN/quarantine/<id>-<hash>/<part>.parquet   failed inputs with stage, error type, message, traceback

``<hash>`` is :func:`datapipe.engine.hashing.output_hash` of the stage's config and its upstream hashes,
so a changed config (or a changed upstream) gets a fresh folder and unchanged stages are reused.
A part is committed when its receipt exists; its parquet and quarantine files are written before
it. Data files without a receipt (a crash between the two) are ignored and cleaned up.

A stage fused into a chain (:mod:`datapipe.engine.plan`) has no parts of its own: its counts live in the
receipts of its chain's last stage (under ``chain``), its quarantine files under the same part names.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe.errors import DatapipeError
from datapipe.schemas.episode import EPISODE_SCHEMA, check_schema_version
from datapipe.storage import AtomicParquetWriter, Location, resolve

INPUT_KEY_COLUMN = "_input_key"
OUTPUT_SCHEMA = EPISODE_SCHEMA.append(pa.field(INPUT_KEY_COLUMN, pa.string(), nullable=False))
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("stage_id", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("input_key", pa.string(), nullable=False),
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("error_message", pa.string(), nullable=False),
        pa.field("traceback", pa.string(), nullable=False),
        pa.field("episode", pa.struct(list(EPISODE_SCHEMA))),  # null for failed source shards
    ]
)


@dataclass
class StageCounts:
    """Inputs consumed, outputs produced and inputs quarantined; worker seconds spent."""

    n_in: int = 0
    n_out: int = 0
    n_failed: int = 0
    worker_s: float = 0.0

    @property
    def error_rate(self) -> float:
        """Failed inputs over consumed inputs (0 when nothing was consumed)."""
        return self.n_failed / self.n_in if self.n_in else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"in": self.n_in, "out": self.n_out, "failed": self.n_failed, "worker_s": round(self.worker_s, 3)}


@dataclass
class CommittedParts:
    """What the receipts of one stage folder say: done keys, output files, counts.

    ``excluded`` maps an output file to input keys whose outputs must be skipped in it because an
    earlier-named part already committed them (can only happen when a retried task was batched
    differently); this keeps every input's outputs exactly once.
    """

    receipts: list[dict[str, Any]] = field(default_factory=list)
    done_keys: set[str] = field(default_factory=set)
    chain_done: set[str] = field(default_factory=set)  # inputs of the stage's chain that are done
    output_files: list[str] = field(default_factory=list)
    excluded: dict[str, set[str]] = field(default_factory=dict)
    counts: StageCounts = field(default_factory=StageCounts)


def iter_part(path: str, fs: Any, skip_keys: Iterable[str] = ()) -> Iterator[pa.Table]:
    """One committed output file (``OUTPUT_SCHEMA``) a row group at a time (a part is written a
    slice per row group), without the rows of inputs in ``skip_keys`` (inputs an earlier-named
    part already committed; see :attr:`CommittedParts.excluded`)."""
    import pyarrow.compute as pc

    check_schema_version(pq.read_schema(path, filesystem=fs), path)
    skip = pa.array(sorted(skip_keys), pa.string())
    with fs.open_input_file(path) as f:
        file = pq.ParquetFile(f)
        for i in range(file.num_row_groups):
            table = file.read_row_group(i).select(OUTPUT_SCHEMA.names).cast(OUTPUT_SCHEMA)
            if len(skip):
                table = table.filter(pc.invert(pc.is_in(table[INPUT_KEY_COLUMN], skip)))
            yield table


def read_part(path: str, fs: Any, skip_keys: Iterable[str] = ()) -> pa.Table:
    """One committed output file whole (:func:`iter_part`'s pieces joined)."""
    return pa.concat_tables([OUTPUT_SCHEMA.empty_table(), *iter_part(path, fs, skip_keys)])


class StageDir:
    """One stage's content-addressed folder in a run directory (and its quarantine)."""

    def __init__(self, run_root: Location, stage_id: str, out_hash: str):
        self.stage_id = stage_id
        self.out_hash = out_hash
        self.name = f"{stage_id}-{out_hash}"
        self.root = run_root.join("stages", self.name)
        self.parts = self.root.join("parts")
        self.quarantine = run_root.join("quarantine", self.name)
        self.complete_file = self.root.join("COMPLETE.json")

    # -- writing (workers) ------------------------------------------------------------------
    def commit_part(
        self,
        part: str,
        receipt: dict[str, Any],
        outputs: AtomicParquetWriter | None,
        failures: pa.Table | None,
    ) -> None:
        """Write a part's outputs (written in pieces by :meth:`output_writer`, or None for a
        sink) and failures, then its receipt (the commit point)."""
        if failures is not None and failures.num_rows:
            self.write_quarantine(part, failures)
        if outputs is not None and outputs.rows:
            outputs.commit()
            receipt = {**receipt, "output_file": f"{part}.parquet"}
        else:
            if outputs is not None:
                outputs.abort()
            receipt = {**receipt, "output_file": None}
        receipt["committed_at"] = time.time()
        self.parts.join(f"{part}.json").write_bytes_atomic(json.dumps(receipt).encode())

    def output_writer(self, part: str) -> AtomicParquetWriter:
        """A writer of a part's output file (``OUTPUT_SCHEMA``) in pieces, for :meth:`commit_part`."""
        return self.parts.join(f"{part}.parquet").parquet_writer(OUTPUT_SCHEMA)

    def write_quarantine(self, part: str, failures: pa.Table) -> None:
        """Write a part's failed inputs (``QUARANTINE_SCHEMA``); they count once the part is committed."""
        self.quarantine.join(f"{part}.parquet").write_parquet_atomic(failures)

    # -- reading (driver) -------------------------------------------------------------------
    def _receipts(self) -> list[dict[str, Any]]:
        return [json.loads(loc.read_bytes()) for loc in self.parts.list(".json")]

    def committed(self, tail: StageDir | None = None) -> CommittedParts:
        """Read every receipt of this stage (sorted by part name).

        A stage fused into a chain has no receipts of its own: pass the chain's last stage as
        ``tail``, whose receipts carry this stage's entry under ``chain``.
        """
        if tail is None:
            return _collect(self._receipts(), self.parts)
        entries = [r["chain"][self.stage_id] for r in tail._receipts() if self.stage_id in r.get("chain", {})]
        return _collect(entries, self.parts)

    def read_outputs(self, committed: CommittedParts | None = None) -> Iterable[pa.Table]:
        """Committed output tables a row group of a part at a time (duplicates from retries removed)."""
        committed = committed or self.committed()
        for path in committed.output_files:
            yield from iter_part(path, self.parts.fs, committed.excluded.get(path, ()))

    def read_quarantine(self, tail: StageDir | None = None) -> pa.Table:
        """Quarantined inputs of committed parts (stage, key, error type, message, traceback);
        ``tail`` as in :meth:`committed`."""
        committed_parts = {r["part"] for r in self.committed(tail).receipts}
        tables = [
            pq.read_table(loc.path, filesystem=loc.fs)
            for loc in self.quarantine.list(".parquet")
            if loc.path.rsplit("/", 1)[-1].removesuffix(".parquet") in committed_parts
        ]
        return pa.concat_tables(tables) if tables else QUARANTINE_SCHEMA.empty_table()

    def is_complete(self) -> bool:
        """Whether every input of this stage was processed in an earlier or this run."""
        return self.complete_file.exists()

    def completion(self) -> dict[str, Any]:
        """What :meth:`mark_complete` recorded (empty if the stage is not complete)."""
        return json.loads(self.complete_file.read_bytes()) if self.is_complete() else {}

    def mark_complete(self, summary: dict[str, Any]) -> None:
        """Record that the stage finished, with its counts."""
        self.complete_file.write_bytes_atomic(json.dumps(summary, indent=2).encode())

    def clean_uncommitted(self, tail: StageDir | None = None) -> int:
        """Remove temporaries and data files that have no receipt (``tail`` as in
        :meth:`committed`); return how many were removed."""
        removed = self.root.remove_temporaries(recursive=True) + self.quarantine.remove_temporaries()
        committed = {r["part"] for r in self.committed(tail).receipts}
        for folder in (self.parts, self.quarantine):
            for loc in folder.list(".parquet"):
                if loc.path.rsplit("/", 1)[-1][:-8] not in committed:
                    loc.delete()
                    removed += 1
        return removed

    def reset(self) -> None:
        """Delete everything of this stage (``--force``)."""
        self.root.delete()
        self.quarantine.delete()


def _collect(receipts: list[dict[str, Any]], parts: Location) -> CommittedParts:
    result = CommittedParts()
    for receipt in sorted(receipts, key=lambda r: r["part"]):
        keys = set(receipt["input_keys"])
        overlap = keys & result.done_keys
        result.receipts.append(receipt)
        result.done_keys |= keys
        result.chain_done.update(receipt.get("chain_keys", receipt["input_keys"]))
        c = result.counts
        c.n_in += receipt.get("n_in", len(keys)) if not overlap else len(keys - overlap)
        c.n_failed += receipt["n_failed"]
        c.n_out += receipt["n_out"]
        c.worker_s += receipt.get("duration_s", 0.0)
        if receipt.get("output_file"):
            path = parts.join(receipt["output_file"]).path
            result.output_files.append(path)
            if overlap:
                result.excluded[path] = overlap
                c.n_out -= sum(receipt.get("outputs_per_key", {}).get(k, 0) for k in overlap)
    return result


class StaleRunError(DatapipeError):
    """A worker of an earlier run (whose driver died) tried to commit after a newer run started:
    not a bug, the directory was handed to the newer run."""


class RunDir:
    """A run directory (local path or URI).

    ``epoch`` is a fencing token: each run writes a fresh one when it starts, and workers check
    it before committing a part, so workers orphaned by a killed driver cannot commit into a
    directory that a newer run is already working on.
    """

    def __init__(self, uri: str):
        self.root = resolve(uri)
        self.manifest = self.root.join("manifest.json")
        self.epoch_file = self.root.join("epoch")

    def new_epoch(self) -> str:
        """Start a new run in this directory; return its fencing token."""
        epoch = uuid.uuid4().hex
        self.epoch_file.write_bytes_atomic(epoch.encode())
        return epoch

    def check_epoch(self, epoch: str) -> None:
        """Raise :class:`StaleRunError` if ``epoch`` is not the current run's token."""
        current = self.epoch_file.read_bytes().decode() if self.epoch_file.exists() else ""
        if current != epoch:
            raise StaleRunError(
                f"{self.root.uri}: a newer run ({current[:8]}) owns this run directory; "
                f"this worker belongs to run {epoch[:8]} and stops without committing"
            )

    def stage(self, stage_id: str, out_hash: str) -> StageDir:
        """The folder of a stage's output."""
        return StageDir(self.root, stage_id, out_hash)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Atomically replace ``manifest.json``."""
        self.root.makedirs()
        self.manifest.write_bytes_atomic(json.dumps(manifest, indent=2, sort_keys=False).encode())

    def read_manifest(self) -> dict[str, Any] | None:
        """The last written manifest, or ``None``."""
        return json.loads(self.manifest.read_bytes()) if self.manifest.exists() else None

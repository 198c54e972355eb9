"""Checking a shard dataset against its manifest: every shard present, of the recorded size and
sha256, readable to the end with the recorded number of samples, and (``deep``) every sample
decodable into an episode. ``datapipe validate-dataset PATH`` prints the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datapipe.shards.dataset import DatasetError, ShardDataset
from datapipe.shards.sample import SampleError, members_episode
from datapipe.shards.tar_io import ShardError, iter_samples


@dataclass
class Problem:
    """One thing wrong with a dataset: where (shard and member, or file) and what."""

    shard: str
    member: str | None
    kind: str  # missing | size | checksum | truncated | sample | manifest
    message: str


@dataclass
class ValidationReport:
    path: str
    shards: int = 0
    samples: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Hashing:
    """A read-only stream wrapper that hashes and counts what is read through it."""

    def __init__(self, raw: Any):
        self.raw, self.sha256, self.size = raw, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def validate_dataset(path: str, deep: bool = False,
                     progress: Callable[[dict[str, Any]], None] | None = None,
                     on_sample: Callable[[str, str, dict[str, bytes]], None] | None = None) -> ValidationReport:
    """Check every shard of the dataset at ``path``; ``progress(shard)`` is called after each.

    ``on_sample(shard_name, key, members)`` is given every sample as it is read, so a caller that
    needs the contents (the audit) reads each shard once; a :class:`SampleError` it raises is
    recorded as a ``sample`` problem."""
    report = ValidationReport(path)
    try:
        ds = ShardDataset(path)
    except DatasetError as exc:
        report.problems.append(Problem("index.json", None, "manifest", str(exc)))
        return report
    for shard in ds.shards():
        report.shards += 1
        name = shard["name"]
        try:
            stream = ds.open(name)
        except ShardError as exc:
            report.problems.append(Problem(name, None, "missing", str(exc)))
            continue
        hashing = _Hashing(stream)
        n = 0
        with stream:
            try:
                for key, members in iter_samples(hashing, name):
                    n += 1
                    try:
                        if deep:
                            members_episode(members, f"{name}:{key}")
                        if on_sample is not None:
                            on_sample(name, key, members)
                    except SampleError as exc:
                        report.problems.append(Problem(name, key, "sample", str(exc)))
            except ShardError as exc:
                report.problems.append(Problem(name, exc.member, "truncated", str(exc)))
            hashing.drain()  # the rest of the file, for size and sha256
        report.samples += n
        report.bytes += hashing.size
        if hashing.size != shard["bytes"]:
            report.problems.append(Problem(name, None, "size", f"{name}: {hashing.size} bytes, the manifest "
                                           f"says {shard['bytes']}"))
        if hashing.sha256.hexdigest() != shard["sha256"]:
            report.problems.append(Problem(name, None, "checksum", f"{name}: sha256 {hashing.sha256.hexdigest()[:16]}… "
                                           f"does not match the manifest's {shard['sha256'][:16]}…"))
        elif n != shard["samples"]:
            report.problems.append(Problem(name, None, "samples", f"{name}: {n} samples, the manifest says "
                                           f"{shard['samples']}"))
        if progress is not None:
            progress(shard)
    return report

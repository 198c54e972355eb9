"""Checking a shard dataset against its manifest: ``episodes.parquet`` readable and agreeing with
``index.json``; every shard present, of the recorded size and sha256, readable to the end with the
recorded number of samples, every sample matching its own sha256; and (``deep``) every sample
decodable into an episode whose videos decode with one frame per step.
``datapipe validate-dataset PATH`` prints the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datapipe.formats.shards.consistency import episode_table_problems
from datapipe.formats.shards.dataset import DatasetError, ShardDataset
from datapipe.formats.shards.sample import SampleError, camera_frames, members_episode, sample_digest
from datapipe.formats.shards.tar_io import ShardError, iter_samples
from datapipe.records import Episode
from datapipe.records.names import sample_key
from datapipe.schemas.shard_manifest import EPISODES_NAME


@dataclass
class Problem:
    """One thing wrong with a dataset: where (shard and member, or file) and what."""

    shard: str
    member: str | None
    kind: str  # missing | size | checksum | truncated | samples | sample | sample_checksum | video | manifest
    message: str


@dataclass
class ValidationReport:
    path: str
    shards: int = 0
    samples: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    decoded_episodes: int = 0  # deep: samples decoded into episodes with every video
    decoded_videos: int = 0
    decoded_frames: int = 0

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


def _episode_table(ds: ShardDataset, report: ValidationReport) -> dict[str, dict[str, Any]]:
    """``episodes.parquet`` rows by sample key, checked against the manifest (problems recorded)."""
    try:
        rows = ds.episode_rows()
    except DatasetError as exc:
        report.problems.append(Problem(EPISODES_NAME, None, "manifest", str(exc)))
        return {}
    for problem in episode_table_problems(ds.manifest, rows, ds.uri(EPISODES_NAME)):
        report.problems.append(Problem(EPISODES_NAME, None, "manifest", problem.message))
    return {sample_key(r["episode_id"]): r for r in rows}


def _check_videos(ep: Episode, where: str) -> str | None:
    for cam in ep.cameras:
        try:
            camera_frames(ep, cam, where, strict=True)
        except SampleError as exc:
            return str(exc)
    return None


def validate_dataset(
    path: str | ShardDataset,
    deep: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
    on_episode: Callable[[str, str, Episode], None] | None = None,
) -> ValidationReport:
    """Check every shard of the dataset at ``path`` (or of a dataset already opened);
    ``progress(shard)`` is called after each.

    ``on_episode(shard_name, key, episode)`` is given every sample that decodes (and matches its
    sha256), so a caller that needs the contents (the audit) reads each shard once."""
    if isinstance(path, ShardDataset):
        ds, report = path, ValidationReport(path.root)
    else:
        report = ValidationReport(path)
        try:
            ds = ShardDataset(path)
        except DatasetError as exc:
            report.problems.append(Problem("index.json", None, "manifest", str(exc)))
            return report
    rows = _episode_table(ds, report)
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
        seen: set[str] = set()
        with stream:
            try:
                for key, members in iter_samples(hashing, name):
                    n += 1
                    where = f"{name}:{key}"
                    row = rows.get(key)
                    seen.add(key)
                    if row is None or row["shard"] != name:
                        report.problems.append(
                            Problem(
                                name,
                                key,
                                "unlisted_sample",
                                f"{where}: no row of episodes.parquet names this sample here",
                            )
                        )
                        continue
                    if row.get("sha256") and sample_digest(members) != row["sha256"]:
                        report.problems.append(
                            Problem(
                                name,
                                key,
                                "sample_checksum",
                                (f"{where}: the sample's sha256 does not match episodes.parquet (damaged)"),
                            )
                        )
                        continue
                    if not deep and on_episode is None:
                        continue
                    try:
                        ep = members_episode(members, where)
                    except SampleError as exc:
                        report.problems.append(Problem(name, key, "sample", str(exc)))
                        continue
                    if ep.episode_id != row["episode_id"] or ep.length != row["length"]:
                        report.problems.append(
                            Problem(
                                name,
                                key,
                                "sample",
                                f"{where}: episode {ep.episode_id[:12]} of {ep.length} steps, episodes.parquet says "
                                f"{str(row['episode_id'])[:12]} of {row['length']}",
                            )
                        )
                        continue
                    if deep:
                        bad = _check_videos(ep, where)
                        if bad:
                            report.problems.append(Problem(name, key, "video", bad))
                            continue
                        report.decoded_episodes += 1
                        report.decoded_videos += len(ep.cameras)
                        report.decoded_frames += sum(cam.n_frames for cam in ep.cameras.values())
                    if on_episode is not None:
                        on_episode(name, key, ep)
            except ShardError as exc:
                report.problems.append(Problem(name, exc.member, "truncated", str(exc)))
            hashing.drain()  # the rest of the file, for size and sha256
        for key, row in rows.items():
            if row["shard"] == name and key not in seen and not any(p.shard == name for p in report.problems):
                report.problems.append(
                    Problem(
                        name, key, "missing_sample", f"{name}: episodes.parquet names sample {key}, the shard lacks it"
                    )
                )
        report.samples += n
        report.bytes += hashing.size
        if n < shard["samples"] and not any(p.shard == name and p.kind == "truncated" for p in report.problems):
            report.problems.append(
                Problem(
                    name,
                    None,
                    "truncated",
                    f"{name}: ends after {n} of {shard['samples']} samples (truncated at a sample boundary)",
                )
            )
        elif n > shard["samples"]:
            report.problems.append(
                Problem(name, None, "samples", f"{name}: {n} samples, the manifest says {shard['samples']}")
            )
        if hashing.size != shard["bytes"]:
            report.problems.append(
                Problem(name, None, "size", f"{name}: {hashing.size} bytes, the manifest says {shard['bytes']}")
            )
        if hashing.sha256.hexdigest() != shard["sha256"]:
            report.problems.append(
                Problem(
                    name,
                    None,
                    "checksum",
                    f"{name}: sha256 {hashing.sha256.hexdigest()[:16]}… "
                    f"does not match the manifest's {shard['sha256'][:16]}…",
                )
            )
        if progress is not None:
            progress(shard)
    return report

"""Auditing a dataset on disk: find its format, read every episode into an
:class:`~datapipe.audit.auditor.Auditor`, and turn what the reading met into findings.

Datasets: WebDataset shard datasets (``index.json``; shards are also checked against the
manifest's sizes and sha256, and a truncated shard's lost episodes are named) and LeRobot v2.1 /
v3.0 directories (``meta/info.json``; a missing video or an unreadable episode is a finding).
"""

from __future__ import annotations

from typing import Any

from datapipe.audit.auditor import Auditor
from datapipe.audit.checks import AuditThresholds, Finding
from datapipe.records import Episode


def dataset_format(path: str) -> str:
    """``webdataset`` or ``lerobot`` (:class:`~datapipe.formats.detect.FormatError` naming the path otherwise)."""
    from datapipe.formats.detect import detect_format

    return detect_format(path, accept=("webdataset", "lerobot"))


def audit_dataset(
    path: str, thresholds: AuditThresholds | None = None, check_cameras: bool = True, progress: Any = None
) -> tuple[Auditor, dict[str, Any]]:
    """Audit the dataset at ``path``; ``progress(n_episodes)`` after each episode."""
    from datapipe.audit.version import dataset_version

    fmt = dataset_format(path)
    version = dataset_version(path, fmt)  # read before the episodes: a rewrite meanwhile cannot pass for this one
    auditor = Auditor(thresholds, check_cameras)
    if fmt == "webdataset":
        _audit_shards(path, auditor, progress)
    else:
        _audit_lerobot(path, auditor, progress)
    return auditor, {**auditor.summary(str(path), fmt), "dataset_version": version}


def _audit_shards(path: str, auditor: Auditor, progress: Any) -> None:
    """One pass over the shards: each sample is audited as it is read while the same read checks
    the shard against the manifest (size, sha256, sample count) and the sample against its own
    sha256 in ``episodes.parquet``. A damaged sample is a finding naming its shard and member and
    costs that sample only; a broken tar loses the rest of its shard, named as lost."""
    from datapipe.formats.shards.dataset import ShardDataset
    from datapipe.formats.shards.validate import validate_dataset
    from datapipe.records.names import sample_key

    ds = ShardDataset(path)
    by_shard: dict[str, list[str]] = {}
    for r in ds.episode_rows():
        by_shard.setdefault(r["shard"], []).append(r["episode_id"])
    read: dict[str, set[str]] = {}
    n = 0

    def audit_sample(shard: str, key: str, ep: Episode) -> None:
        nonlocal n
        auditor.add(ep, f"{shard}:{key}")
        read.setdefault(shard, set()).add(sample_key(ep.episode_id))
        n += 1
        if progress:
            progress(n)

    report = validate_dataset(ds, on_episode=audit_sample)
    problems: dict[str, list[Any]] = {}
    for p in report.problems:
        problems.setdefault(p.shard, []).append(p)
        if p.kind in ("sample", "video", "sample_checksum"):
            ids = [e for e in by_shard.get(p.shard, []) if sample_key(e) == p.member] or [f"{p.shard}:{p.member}"]
            kind = {"sample": "damaged_sample", "video": "damaged_video", "sample_checksum": "checksum_mismatch"}[
                p.kind
            ]
            auditor.add_finding(Finding(kind, "error", ids, p.message))
        elif p.kind in ("manifest", "unlisted_sample", "missing_sample"):  # the table disagrees with the shards
            auditor.add_finding(Finding("manifest", "error", [], p.message))
    for shard in ds.shards():
        name = shard["name"]
        found = {p.kind: p for p in problems.get(name, [])}
        if "missing" in found:
            auditor.add_finding(
                Finding("missing_file", "error", by_shard.get(name, []), f"{name}: listed in index.json but missing")
            )
            continue
        damaged = {p.member for p in problems.get(name, []) if p.kind in ("sample", "video", "sample_checksum")}
        seen = read.get(name, set()) | damaged
        lost = [e for e in by_shard.get(name, []) if sample_key(e) not in seen]
        if lost:
            cause = found.get("truncated")
            why = cause.message if cause else f"{name}: holds {len(seen)} of {shard['samples']} samples"
            auditor.add_finding(Finding("truncated_shard", "error", lost, f"{why} ({len(lost)} episode(s) unreadable)"))
            continue
        mismatch = found.get("checksum") or found.get("size") or found.get("samples")
        if mismatch is not None:
            auditor.add_finding(Finding("checksum_mismatch", "error", by_shard.get(name, []), mismatch.message))


def _audit_lerobot(path: str, auditor: Auditor, progress: Any) -> None:
    from datapipe.formats.lerobot.reader import LeRobotReader

    reader = LeRobotReader(path, on_missing_video="drop")  # the numeric data is audited all the same
    for n, index in enumerate(reader.episode_indices(), start=1):
        try:
            ep = reader.read_episode(index)
            dropped = ep.meta.get("lerobot", {}).get("dropped_cameras") or ep.meta.get("lerobot_dropped_cameras") or {}
            for camera, file in sorted(dropped.items()):
                auditor.add_finding(
                    Finding(
                        "missing_file",
                        "error",
                        [ep.episode_id],
                        f"{path}/{file}: video of camera {camera!r} missing (episode_index={index})",
                    )
                )
            auditor.add(ep, f"{path} episode_index={index}")
        except Exception as exc:  # one unreadable episode is a finding, the audit goes on
            missing = "missing" in str(exc)
            auditor.add_finding(
                Finding(
                    "missing_file" if missing else "unreadable_episode", "error", [f"episode_index={index}"], str(exc)
                )
            )
        if progress:
            progress(n)

"""Streaming audit of a dataset: one episode at a time into bounded accumulators.

Memory holds, whatever the dataset size: one episode (and its decoded frames), a row of scalars
per episode (polars table), mergeable moments per feature, a fixed-size seeded sample of feature
values for plots, a fixed number of contact-sheet thumbnails, and a small action signature per
episode for duplicate detection (16 x action dims floats).

Reading a dataset on disk into an :class:`Auditor` is :mod:`datapipe.audit.datasets`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datapipe.audit import curation
from datapipe.audit.checks import AuditThresholds, Finding, check_episode
from datapipe.formats.shards.sample import FrameCountError, SampleError, camera_frames
from datapipe.formats.shards.stats import Moments
from datapipe.records import Episode

SIGNATURE_STEPS = 16
SAMPLE_ROWS = 20_000  # feature values kept per feature for plots
THUMBS = 12  # contact sheet: episodes per camera
THUMB_SIZE = 96  # px, longer side


class _Reservoir:
    """A uniform seeded sample of at most ``size`` items of a stream."""

    def __init__(self, size: int, seed: int = 0):
        self.size, self.seen, self.items = size, 0, []
        self.rng = np.random.default_rng(seed)

    def add(self, item: Any) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            j = int(self.rng.integers(self.seen))
            if j < self.size:
                self.items[j] = item


@dataclass
class AuditState:
    rows: list[dict[str, Any]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    moments: dict[str, Moments] = field(default_factory=dict)
    samples: dict[str, _Reservoir] = field(default_factory=dict)
    thumbs: dict[str, _Reservoir] = field(default_factory=dict)
    hashes: dict[str, list[str]] = field(default_factory=dict)
    signatures: list[tuple[str, np.ndarray]] = field(default_factory=list)
    fps: Counter = field(default_factory=Counter)
    arrays: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # step array -> spec -> episodes
    origins: dict[str, str] = field(default_factory=dict)  # augmented episode -> the episode it derives from
    camera_episodes: Counter = field(default_factory=Counter)
    camera_sizes: dict[str, Counter] = field(default_factory=dict)  # camera -> "HxW" -> episodes
    frames: int = 0
    curation: list[dict[str, Any]] = field(default_factory=list)  # clips with meta.egocentric (capped)
    curation_counts: Counter = field(default_factory=Counter)  # clips, kept, and per failed test
    dim_names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # action/state -> names per dimension


def _signature(action: np.ndarray) -> np.ndarray:
    idx = np.linspace(0, len(action) - 1, SIGNATURE_STEPS).round().astype(int)
    return action[idx].astype(np.float64)


def _array_spec(arr: np.ndarray) -> str:
    """A step array's dtype and per-step shape: they must agree within a dataset (camera sizes
    may differ: sources differ, and the manifest lists each episode's)."""
    return f"{arr.dtype.str}{list(arr.shape[1:])}"


class Auditor:
    """Accumulates episodes (:meth:`add`) and dataset-level findings, then summarizes."""

    def __init__(self, thresholds: AuditThresholds | None = None, check_cameras: bool = True):
        self.th = thresholds or AuditThresholds()
        self.check_cameras = check_cameras
        self.state = AuditState()

    def add_finding(self, finding: Finding) -> None:
        self.state.findings.append(finding)

    def _decoded(self, ep: Episode, where: str) -> dict[str, np.ndarray]:
        """Decoded frames per camera; a damaged video, or one with other than a frame per step, is
        a finding (naming ``where`` and the member), and its camera is left out."""
        frames = {}
        for cam in ep.cameras:
            try:
                frames[cam] = camera_frames(ep, cam, where, strict=True)
            except FrameCountError as exc:
                self.add_finding(Finding("frame_count_mismatch", "error", [ep.episode_id], str(exc)))
            except SampleError as exc:
                self.add_finding(Finding("damaged_video", "error", [ep.episode_id], str(exc)))
        return frames

    def add(self, ep: Episode, where: str = "") -> None:
        """Audit one episode; ``where`` (``shard:key``, a file) names it in findings."""
        st = self.state
        frames = self._decoded(ep, where or ep.episode_id) if self.check_cameras else {}
        st.findings.extend(check_episode(ep, self.th, frames))
        action = np.asarray(ep.steps["action"], np.float64).reshape(ep.length, -1)
        state = np.asarray(ep.steps["observation.state"], np.float64).reshape(ep.length, -1)
        interv = np.asarray(ep.steps["is_intervention"], bool)
        for key, names in (("action", ep.embodiment.action_names), ("observation.state", ep.embodiment.state_names)):
            if names and key not in st.dim_names:
                st.dim_names[key] = tuple(names)
        st.rows.append(
            {
                "episode_id": ep.episode_id,
                "source_kind": ep.source.kind,
                "augmented_by": (ep.meta.get("augmentation") or {}).get("stage", "")
                if ep.source.kind == "augmented"
                else "",
                "task": ep.task[0],
                "robot": ep.embodiment.robot,
                "fps": float(ep.fps),
                "length": ep.length,
                "duration_s": ep.duration_s,
                "success": None if ep.success is None else bool(ep.success),
                "intervention_rate": float(interv.mean()) if len(interv) else 0.0,
                "cameras": ",".join(sorted(ep.cameras)),
                "words": len(ep.task[0].split()),
            }
        )
        st.frames += ep.length
        st.fps[float(ep.fps)] += 1
        for name, cam in ep.cameras.items():
            st.camera_sizes.setdefault(name, Counter())[f"{cam.height}x{cam.width}"] += 1
        for name, arr in ep.steps.items():
            st.arrays.setdefault(name, {}).setdefault(_array_spec(np.asarray(arr)), []).append(ep.episode_id)
        if ep.source.kind == "augmented" and (ep.meta.get("augmentation") or {}).get("parent"):
            st.origins[ep.episode_id] = ep.meta["augmentation"]["parent"]
        for name, arr in (("action", action), ("observation.state", state)):
            finite = arr[np.isfinite(arr).all(axis=1)] if arr.shape[1] else arr[:0]
            if len(finite):
                m = Moments.of(finite)
                if name not in st.moments:
                    st.moments[name] = m
                elif st.moments[name].mean.shape == m.mean.shape:  # other shapes: mismatched_shapes
                    st.moments[name] = st.moments[name].merge(m)
                res = st.samples.setdefault(name, _Reservoir(SAMPLE_ROWS, seed=len(name)))
                for row in finite[:: max(1, len(finite) // 50)]:
                    res.add(row)
        content = hashlib.sha256(action.tobytes() + state.tobytes()).hexdigest()
        st.hashes.setdefault(content, []).append(ep.episode_id)
        if action.shape[1] and np.isfinite(action).all():
            st.signatures.append((ep.episode_id, _signature(action)))
        if ep.meta.get("egocentric"):
            decision = ep.meta["egocentric"]
            st.curation_counts["clips"] += 1
            st.curation_counts["kept"] += bool(decision.get("keep"))
            st.curation_counts.update(f"rejected_by:{t}" for t in decision.get("rejected_by", []))
            if len(st.curation) < curation.MAX_CLIPS:
                st.curation.append(curation.clip_record(ep, frames))
        for cam, f in frames.items():
            st.camera_episodes[cam] += 1
            thumb = f[len(f) // 2]
            step = max(1, max(thumb.shape[:2]) // THUMB_SIZE)
            st.thumbs.setdefault(cam, _Reservoir(THUMBS, seed=7)).add((ep.episode_id, thumb[::step, ::step].copy()))

    # -- dataset-level checks ----------------------------------------------------------------------
    def _dataset_findings(self) -> list[Finding]:
        st, out = self.state, []
        for ids in st.hashes.values():
            if len({self._origin(i) for i in ids}) > 1:  # copies of one parent keep its actions by design
                out.append(
                    Finding(
                        "duplicate", "warning", sorted(ids), f"{len(ids)} episodes have identical actions and states"
                    )
                )
        dup_ids = {i for ids in st.hashes.values() if len(ids) > 1 for i in ids}
        sigs = [(i, s) for i, s in st.signatures if i not in dup_ids]
        if len(sigs) > 1 and "action" in st.moments:
            scale = np.maximum(st.moments["action"].std, 1e-9)
            by_shape: dict[tuple, list[tuple[str, np.ndarray]]] = {}
            for i, s in sigs:
                by_shape.setdefault(s.shape, []).append((i, s))
            for group in by_shape.values():
                if group[0][1].shape[1] != len(scale):
                    continue
                ids = [i for i, _ in group]
                X = np.stack([s / scale for _, s in group]).reshape(len(group), -1)
                for a in range(len(X)):
                    d = np.sqrt(((X[a + 1 :] - X[a]) ** 2).mean(axis=1))
                    for b in np.flatnonzero(d < self.th.near_duplicate_distance):
                        out.append(
                            Finding(
                                "near_duplicate",
                                "info",
                                [ids[a], ids[a + 1 + b]],
                                f"action trajectories differ by {d[b]:.2g} (RMS, in std units)",
                            )
                        )
        if len(st.fps) > 1:
            common = st.fps.most_common(1)[0][0]
            odd = [r["episode_id"] for r in st.rows if r["fps"] != common]
            out.append(Finding("mismatched_fps", "error", odd, f"fps differs from the dataset's usual {common:g}"))
        out += self._array_findings()
        return out

    def _origin(self, episode_id: str) -> str:
        """The episode an augmented one derives from, through stacked augmentations."""
        seen = {episode_id}
        while episode_id in self.state.origins and self.state.origins[episode_id] not in seen:
            episode_id = self.state.origins[episode_id]
            seen.add(episode_id)
        return episode_id

    def _array_findings(self) -> list[Finding]:
        """``mismatched_shapes`` (error): a step array with different dtypes or shapes in different
        episodes; ``partial_steps`` (info): arrays that only some episodes carry, as in a mixture
        of sources whose source-specific arrays (``task.state``...) the others lack."""
        st, out = self.state, []
        n = len(st.rows)
        for name, specs in sorted(st.arrays.items()):
            if len(specs) > 1:
                common = max(specs, key=lambda k: len(specs[k]))
                odd = sorted(i for k, ids in specs.items() if k != common for i in ids)
                others = ", ".join(sorted(k for k in specs if k != common))
                out.append(
                    Finding(
                        "mismatched_shapes",
                        "error",
                        odd,
                        f"step array {name!r} is {others} in {len(odd)} episode(s), {common} in the others",
                    )
                )
        partial: dict[tuple[str, ...], set[str]] = {}
        every = frozenset(r["episode_id"] for r in st.rows)
        for name, specs in st.arrays.items():
            have = {i for ids in specs.values() for i in ids}
            if len(have) < n:
                partial.setdefault(tuple(sorted(every - have)), set()).add(name)
        for lacking, names in sorted(partial.items(), key=lambda kv: sorted(kv[1])):
            out.append(
                Finding(
                    "partial_steps",
                    "info",
                    list(lacking),
                    f"{len(lacking)} of {n} episodes lack the step array(s) {', '.join(sorted(names))} that the others "
                    "carry; train on those only from the episodes that have them",
                )
            )
        return out

    # -- summary --------------------------------------------------------------------------------------
    def summary(self, dataset: str, fmt: str) -> dict[str, Any]:
        import polars as pl

        st = self.state
        findings = st.findings + self._dataset_findings()
        df = pl.DataFrame(st.rows) if st.rows else pl.DataFrame({"length": [], "duration_s": []})
        n = len(st.rows)

        def counts(col: str) -> dict[str, int]:
            if not n:
                return {}
            g = df.group_by(col).len().sort("len", descending=True)
            return {str(k): int(v) for k, v in zip(g[col].to_list(), g["len"].to_list())}

        lengths = df["length"].to_numpy() if n else np.zeros(0)
        hist = np.histogram(lengths, bins=min(20, max(1, len(set(lengths.tolist()))))) if n else ([], [])
        success = df.filter(pl.col("success").is_not_null())["success"] if n else []
        tasks = df["task"].to_list() if n else []
        vocab = Counter(w for t in tasks for w in t.lower().split())
        features = {}
        for name, m in st.moments.items():
            sample = np.stack(st.samples[name].items) if st.samples.get(name) and st.samples[name].items else None
            q = np.quantile(sample, [0.01, 0.99], axis=0) if sample is not None else None
            features[name] = {
                "dims": int(m.mean.shape[0]),
                "count": int(m.count),
                "mean": m.mean.round(6).tolist(),
                "std": m.std.round(6).tolist(),
                "min": m.min.round(6).tolist(),
                "max": m.max.round(6).tolist(),
                "q01": q[0].round(6).tolist() if q is not None else None,
                "q99": q[1].round(6).tolist() if q is not None else None,
            }
        kinds = Counter(f.kind for f in findings)
        return {
            "dataset": dataset,
            "format": fmt,
            "episodes": n,
            "frames": int(st.frames),
            "hours": round(float(df["duration_s"].sum()) / 3600, 6) if n else 0.0,
            "fps": {f"{k:g}": v for k, v in st.fps.items()},
            "counts": {"source_kind": counts("source_kind"), "task": counts("task"), "robot": counts("robot")},
            "curation": {
                "clips": st.curation_counts["clips"],
                "kept": st.curation_counts["kept"],
                "rejected_by": {
                    k.split(":", 1)[1]: v for k, v in st.curation_counts.most_common() if k.startswith("rejected_by:")
                },
            },
            "augmentation": {
                "original": int((df["augmented_by"] == "").sum()) if n else 0,
                "augmented": int((df["augmented_by"] != "").sum()) if n else 0,
                "by_stage": {k: v for k, v in counts("augmented_by").items() if k},
            },
            "length": {
                "min": int(lengths.min()) if n else 0,
                "max": int(lengths.max()) if n else 0,
                "mean": round(float(lengths.mean()), 3) if n else 0.0,
                "median": float(np.median(lengths)) if n else 0.0,
                "p05": float(np.quantile(lengths, 0.05)) if n else 0.0,
                "p95": float(np.quantile(lengths, 0.95)) if n else 0.0,
                "histogram": {"edges": np.asarray(hist[1]).round(3).tolist(), "counts": np.asarray(hist[0]).tolist()},
            },
            "success_rate": round(float(np.mean(success.to_numpy())), 4) if len(success) else None,
            "episodes_with_success_label": int(len(success)),
            "intervention_rate": round(float(df["intervention_rate"].mean()), 4) if n else 0.0,
            "features": features,
            "language": {
                "distinct_instructions": len(set(tasks)),
                "vocabulary": len(vocab),
                "mean_words": round(float(np.mean([len(t.split()) for t in tasks])), 3) if tasks else 0.0,
                "min_words": min((len(t.split()) for t in tasks), default=0),
                "max_words": max((len(t.split()) for t in tasks), default=0),
                "top_words": vocab.most_common(20),
            },
            "cameras": {
                c: {
                    "episodes": k,
                    "coverage": round(k / n, 4) if n else 0.0,
                    "sizes": dict(st.camera_sizes.get(c, Counter()).most_common()),
                }
                for c, k in sorted(st.camera_episodes.items())
            },
            "findings": [f.as_dict() for f in findings],
            "finding_counts": dict(sorted(kinds.items())),
        }

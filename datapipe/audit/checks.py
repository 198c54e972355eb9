"""Per-episode checks that produce findings, and the thresholds they use.

A finding is ``(kind, severity, episode_ids, message)``; severities are ``error`` (the data is
wrong), ``warning`` (probably wrong) and ``info``. Each check below looks at one episode;
dataset-level checks (duplicates, mismatched fps or shapes, missing files, checksums) live in
:mod:`datapipe.audit.auditor`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.language.text import PLACEHOLDERS
from datapipe.records import Episode


@dataclass
class Finding:
    kind: str
    severity: str
    episode_ids: list[str]
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AuditThresholds:
    """What counts as wrong. Times in seconds, pixel values 0..255."""

    min_seconds: float = 1.0  # shorter episodes are flagged
    max_seconds: float = 3600.0  # longer episodes are flagged
    jump_factor: float = 10.0  # a step change above this many times the episode's median step change
    min_jump: float = 1e-3  # ... and above this absolute size (feature units)
    frozen_fraction: float = 0.3  # longest run of identical consecutive actions, as a share of steps
    gap_factor: float = 1.5  # a timestamp step above this many frame periods is a gap
    frozen_pixel_delta: float = 3.0  # no pixel changes by more than this between two frames: frozen
    frozen_camera_fraction: float = 0.9  # share of frame pairs that must be frozen
    black_level: float = 8.0  # mean pixel value below this: black
    black_fraction: float = 0.9
    near_duplicate_distance: float = 1e-3  # RMS distance of normalized action signatures
    limits: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # feature -> {min, max}


def _longest_run(same: np.ndarray) -> int:
    best = run = 0
    for s in same:
        run = run + 1 if s else 0
        best = max(best, run)
    return best


def check_episode(ep: Episode, th: AuditThresholds, frames: dict[str, np.ndarray] | None) -> list[Finding]:
    """Findings of one episode (``frames``: decoded camera frames, if cameras are checked)."""
    out: list[Finding] = []
    eid = [ep.episode_id]
    for name, arr in ep.steps.items():
        a = np.asarray(arr)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            nonfinite = (~np.isfinite(a)).reshape(len(a), -1).any(axis=1)
            present = ep.steps.get(name.rsplit(".", 1)[0] + ".present")
            if present is not None and len(present) == len(a):  # NaN by design where absent (hand tracks)
                nonfinite &= np.asarray(present, bool)
            bad = int(nonfinite.sum())
            if not bad:
                continue
            out.append(Finding("non_finite", "error", eid, f"{name}: {bad} step(s) hold NaN or infinite values"))
    for name, lim in th.limits.items():
        if name in ep.steps:
            a = np.asarray(ep.steps[name], np.float64).reshape(ep.length, -1)
            lo, hi = np.asarray(lim.get("min", -np.inf), np.float64), np.asarray(lim.get("max", np.inf), np.float64)
            for key, bound in (("min", lo), ("max", hi)):
                if bound.ndim > 1 or bound.size not in (1, a.shape[1]):
                    raise DatapipeError(
                        f"limits: {name}.{key} has {bound.size} values; {name} has {a.shape[1]} "
                        f"dimensions (give one value or one per dimension)"
                    )
            outside = ((a < lo - 1e-9) | (a > hi + 1e-9)) & np.isfinite(a)
            if outside.any():
                dims = sorted(set(np.nonzero(outside)[1].tolist()))
                out.append(
                    Finding(
                        "out_of_limits",
                        "error",
                        eid,
                        f"{name}: {int(outside.any(axis=1).sum())} step(s) "
                        f"outside the declared limits in dimension(s) {dims}",
                    )
                )
    out += _action_checks(ep, th)
    ts = np.asarray(ep.steps["timestamp"], np.float64)
    if len(ts) > 1 and np.isfinite(ts).all():
        dt = np.diff(ts)
        if (dt <= 0).any():
            out.append(
                Finding(
                    "non_monotonic_timestamps",
                    "error",
                    eid,
                    f"timestamp does not increase at {int((dt <= 0).sum())} step(s)",
                )
            )
        gaps = dt > th.gap_factor / ep.fps
        if gaps.any():
            out.append(
                Finding(
                    "timestamp_gap",
                    "error",
                    eid,
                    f"{int(gaps.sum())} gap(s) in timestamp, the largest {dt.max():.3f} s at {ep.fps:g} fps",
                )
            )
    if ep.duration_s < th.min_seconds:
        out.append(
            Finding("too_short", "warning", eid, f"{ep.length} steps = {ep.duration_s:.2f} s, under {th.min_seconds} s")
        )
    if ep.duration_s > th.max_seconds:
        out.append(Finding("too_long", "warning", eid, f"{ep.duration_s:.0f} s, over {th.max_seconds:.0f} s"))
    texts = [t.strip().lower() for t in ep.task]
    if all(t in PLACEHOLDERS for t in texts):
        out.append(
            Finding("empty_instruction", "error", eid, f"instruction is empty or a placeholder: {list(ep.task)}")
        )
    for cam, f in (frames or {}).items():
        if len(f) > 1:
            delta = np.abs(np.diff(f.astype(np.int16), axis=0)).max(axis=(1, 2, 3))
            if np.mean(delta < th.frozen_pixel_delta) >= th.frozen_camera_fraction:
                out.append(
                    Finding(
                        "frozen_camera",
                        "error",
                        eid,
                        f"camera {cam}: the image does not change over "
                        f"{np.mean(delta < th.frozen_pixel_delta):.0%} of the episode",
                    )
                )
        if np.mean(f.mean(axis=(1, 2, 3)) < th.black_level) >= th.black_fraction:
            out.append(Finding("black_camera", "error", eid, f"camera {cam}: frames are black"))
    return out


def _action_checks(ep: Episode, th: AuditThresholds) -> list[Finding]:
    """Constant, frozen and jumping actions. Where the embodiment gives action kinds, binary
    gripper dimensions are left out of the frozen and jump checks (a gripper steps between open and
    closed, and holds either for long), and one that takes more than two values is flagged."""
    out: list[Finding] = []
    eid = [ep.episode_id]
    action = np.asarray(ep.steps["action"], np.float64).reshape(ep.length, -1)
    if not (action.shape[1] and ep.length > 1 and np.isfinite(action).all()):
        return out
    if np.all(np.diff(action, axis=0) == 0):
        return [Finding("constant_action", "warning", eid, f"action is the same at all {ep.length} steps")]
    kinds = ep.embodiment.action_kinds
    if len(kinds) != action.shape[1]:
        kinds = ("other",) * action.shape[1]
    for i, kind in enumerate(kinds):
        values = np.unique(action[:, i])
        if kind == "gripper_binary" and len(values) > 2:
            out.append(
                Finding(
                    "gripper_not_binary",
                    "warning",
                    eid,
                    f"action[{i}] ({_action_name(ep, i)}) is a binary gripper but takes {len(values)} values",
                )
            )
    moving = [i for i, kind in enumerate(kinds) if kind != "gripper_binary"]
    if not moving:
        return out
    d = np.linalg.norm(np.diff(action[:, moving], axis=0), axis=1)
    what = "action" if len(moving) == action.shape[1] else "action (without the gripper)"
    run = _longest_run(d == 0)
    if run + 1 >= th.frozen_fraction * ep.length and run >= 3:
        out.append(
            Finding(
                "frozen_action",
                "warning",
                eid,
                f"{what} stays exactly the same for {run + 1} consecutive steps of {ep.length}",
            )
        )
    med = float(np.median(d))
    if d.max() > max(th.jump_factor * med, th.min_jump):
        t = int(d.argmax())
        out.append(
            Finding(
                "action_jump",
                "warning",
                eid,
                f"{what} jumps by {d.max():.4g} at step {t + 1} "
                f"({d.max() / max(med, 1e-12):.0f}x the median step change)",
            )
        )
    return out


def _action_name(ep: Episode, i: int) -> str:
    names = ep.embodiment.action_names
    return names[i] if i < len(names) else f"dimension {i}"

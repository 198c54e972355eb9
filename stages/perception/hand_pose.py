"""``perception.hand_pose``: MediaPipe hand landmarks on every frame, gap-filled and smoothed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from datapipe.config import check
from datapipe.engine.stage import Resources, Transform, Wiring
from datapipe.generators.hands.tracking import (
    SIDES,
    HandTracker,
    fill_gaps,
    jitter,
    merge_tracks,
    smooth,
    track_closeups,
)
from datapipe.records import Episode, RecordError


@dataclass(frozen=True)
class HandPoseConfig:
    # camera whose frames are analysed
    camera: str = "ego"
    # the video is mirrored (selfie view); ordinary video is not
    mirrored: bool = False
    # MediaPipe hand landmark model: 0 lite, 1 full
    model_complexity: Literal[0, 1] = 1
    # detection confidence threshold, 0..1
    min_detection: float = 0.5
    # tracking confidence threshold (below it the palm detector runs again), 0..1
    min_tracking: float = 0.5
    # close-ups: frames where no hand is found are tracked again zoomed out (the frame centred on a
    # canvas 1 + closeup_pad times its size), so hands that fill the view are found; 0 = off
    closeup_pad: float = 0.6
    # fill gaps of at most this many frames by linear interpolation (marked as interpolated)
    max_gap: int = 5
    # One Euro filter: minimum cutoff frequency, Hz (lower = smoother at rest)
    min_cutoff: float = 1.5
    # One Euro filter: speed coefficient (higher = less lag when moving)
    beta: float = 0.05
    # One Euro filter: cutoff frequency of the speed estimate, Hz
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        check(self.model_complexity in (0, 1), "model_complexity", f"must be 0 or 1, got {self.model_complexity}")
        check(0 <= self.closeup_pad <= 4, "closeup_pad", f"must be within 0..4, got {self.closeup_pad}")


class HandPose(Transform):
    """Track up to two hands per frame (21 image landmarks in pixels, 21 world landmarks in
    metres, handedness for non-mirrored video, confidence), fill short gaps, smooth with a One
    Euro filter; steps hand.<side>.* and meta.hand_pose (detection rate, jitter before/after)."""

    name = "perception.hand_pose"
    version = "2"  # 2: the zoomed-out pass for close-ups
    Config = HandPoseConfig
    resources = Resources(cpus=1)
    use_actors = True  # long-lived workers: MediaPipe and its models are loaded once per process

    @classmethod
    def requires(cls, config: HandPoseConfig) -> Wiring:
        return Wiring.needs(cameras=(config.camera,))

    @classmethod
    def produces(cls, config: HandPoseConfig, upstream: Wiring) -> Wiring:
        fields = ("image", "world", "present", "interpolated", "score")
        return upstream.plus(f"hand.{side}.{f}" for side in ("left", "right") for f in fields)

    def process(self, episode: Episode) -> Iterable[Episode]:
        c = self.config
        if c.camera not in episode.cameras:
            raise RecordError(f"episode has no camera {c.camera!r} (it has {sorted(episode.cameras)})")
        frames = episode.cameras[c.camera].frames()
        # A graph per episode: MediaPipe's video mode tracks across calls and has no reset.
        tracker = HandTracker(2, c.model_complexity, c.min_detection, c.min_tracking)
        try:
            raw = tracker.track(frames, c.mirrored)
        finally:
            tracker.close()
        missing = ~np.any([t.present for t in raw.values()], axis=0)
        closeup_frames = 0
        if c.closeup_pad > 0 and missing.any():
            zoomed = HandTracker(2, c.model_complexity, c.min_detection, c.min_tracking)
            try:
                extra = track_closeups(zoomed, frames, c.closeup_pad, c.mirrored)
            finally:
                zoomed.close()
            raw = merge_tracks(raw, extra)
            closeup_frames = int((missing & np.any([t.present for t in raw.values()], axis=0)).sum())
        steps, quality = {}, {}
        for side in SIDES:
            filled = fill_gaps(raw[side], c.max_gap)
            smoothed = smooth(filled, episode.fps, c.min_cutoff, c.beta, c.d_cutoff)
            steps[f"hand.{side}.image"] = smoothed.image.astype(np.float32)
            steps[f"hand.{side}.world"] = smoothed.world.astype(np.float32)
            steps[f"hand.{side}.present"] = smoothed.present
            steps[f"hand.{side}.interpolated"] = smoothed.interpolated
            steps[f"hand.{side}.score"] = smoothed.score.astype(np.float32)
            quality[side] = {
                "detection_rate": round(raw[side].detection_rate, 4),
                "present_rate": round(float(smoothed.present.mean()), 4),
                "interpolated_frames": int(smoothed.interpolated.sum()),
                "jitter_px_raw": round(jitter(raw[side].image, raw[side].present), 4),
                "jitter_px_filled": round(jitter(filled.image, filled.present), 4),
                "jitter_px_smoothed": round(jitter(smoothed.image, smoothed.present), 4),
            }
        h, w = frames.shape[1:3]
        meta = {
            "hands": quality,
            "image_size": [int(h), int(w)],
            "camera": c.camera,
            "mirrored": c.mirrored,
            "closeup_frames": closeup_frames,  # frames whose hands only the zoomed-out pass found
            "one_euro": {"min_cutoff": c.min_cutoff, "beta": c.beta, "d_cutoff": c.d_cutoff},
        }
        yield episode.with_steps(**steps).with_meta(hand_pose=meta)

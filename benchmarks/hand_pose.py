"""Hand pose throughput: MediaPipe in a plain loop against 1 and 2 Ray workers; retargeting cost.

The shared clip (``../shared/media/hand_webcam_720p.mp4``, resized to 480 px on its long side)
is cut into 4 segments held as mp4 bytes. The plain loop decodes and tracks every segment in this
process; the Ray runs give the segments to 1 or 2 single-CPU actors (one MediaPipe graph each)
that decode and track them. Speed-up = Ray frames/s over plain-loop frames/s, same run (target:
2 workers at least 1.7x). Also the arm and dexterous-hand retargeting time per frame.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

import datapipe.generators  # noqa: F401  (MUJOCO_GL before mujoco is imported)

CLIP = Path(__file__).resolve().parents[1].parent / "shared" / "media" / "hand_webcam_720p.mp4"
SEGMENTS = 4


def _segments() -> tuple[list[bytes], int]:
    from datapipe.records import CameraStream
    from datapipe.stages.ingest.video_files.video_io import decode_video

    video = decode_video(CLIP.read_bytes(), CLIP.name, 480)
    frames = video.frames[:480]
    parts = np.array_split(frames, SEGMENTS)
    return [CameraStream.from_frames(p, video.fps, quality=95).data[0] for p in parts], len(frames)


def _track(data: bytes) -> int:
    from datapipe.generators.hands.tracking import HandTracker
    from datapipe.stages.ingest.video_files.video_io import decode_video

    frames = decode_video(data, "segment").frames
    tracker = HandTracker()
    tracks = tracker.track(frames)
    tracker.close()
    return int(sum(t.present.sum() for t in tracks.values()) >= 0) * len(frames)


class _Worker:
    def track(self, data: bytes) -> int:
        return _track(data)


def _retarget_cost() -> tuple[float, float]:
    from datapipe.generators.hands.hand_frame import intrinsics
    from datapipe.generators.hands.tracking import HandTracker
    from datapipe.generators.retarget.arm import ArmRetargeter, ArmRetargetSettings
    from datapipe.generators.retarget.dex import DexRetargeter
    from datapipe.stages.ingest.video_files.video_io import decode_video

    frames = decode_video(CLIP.read_bytes(), CLIP.name, 640).frames[:120]
    track = HandTracker().track(frames)["right"]
    K = intrinsics(frames.shape[2], frames.shape[1])
    arm = ArmRetargeter(ArmRetargetSettings())
    started = time.perf_counter()
    arm.retarget(track.world, track.image, track.present, K, 30.0)
    arm_ms = (time.perf_counter() - started) / len(frames) * 1000
    dex = DexRetargeter()
    started = time.perf_counter()
    dex.retarget(track.world, track.present)
    dex_ms = (time.perf_counter() - started) / len(frames) * 1000
    return arm_ms, dex_ms


def main() -> None:
    if not CLIP.exists():
        print(f"hand pose: skipped, {CLIP} is absent", flush=True)
        return
    import ray

    from datapipe.engine.runners.ray_cluster import init_ray

    segments, n_frames = _segments()
    _track(segments[0])  # warm up imports and the model files' page cache
    started = time.perf_counter()
    for seg in segments:
        _track(seg)
    plain = n_frames / (time.perf_counter() - started)
    started_ray = init_ray()
    actor = ray.remote(num_cpus=1)(_Worker)
    results = {}
    for n in (1, 2):
        workers = [actor.remote() for _ in range(n)]
        ray.get([w.track.remote(segments[0]) for w in workers])  # start them, load MediaPipe
        started = time.perf_counter()
        ray.get([workers[i % n].track.remote(seg) for i, seg in enumerate(segments)])
        results[n] = n_frames / (time.perf_counter() - started)
        for w in workers:
            ray.kill(w)
    if started_ray:
        ray.shutdown()
    print(
        f"hand pose (MediaPipe, 480 px): plain loop {plain:.1f} frames/s (one core), Ray 1 worker "
        f"{results[1]:.1f} frames/s ({results[1] / plain:.2f}x), 2 workers {results[2]:.1f} frames/s "
        f"({results[2] / plain:.2f}x the plain loop; target >= 1.70; {os.cpu_count()} cores)",
        flush=True,
    )
    arm_ms, dex_ms = _retarget_cost()
    print(
        f"retargeting: arm + gripper {arm_ms:.2f} ms/frame (PnP, IK, replay checks), dexterous hand "
        f"{dex_ms:.2f} ms/frame (20 joints)",
        flush=True,
    )


if __name__ == "__main__":
    main()

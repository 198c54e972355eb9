"""Peak memory of a video ingest workflow on textured 720p: 10 seconds against 10 minutes.

The benchmark writes a 10-second textured clip (H.264, 1280x720, 30 fps: a multi-scale noise
texture drifting under the camera plus per-frame sensor noise, so clips are as large as real
footage's, not a smooth pattern that encodes to nothing), tiles it in time into the longer file
(packets copied, no re-encode), then runs ``ingest.video_files -> sink.webdataset`` (10-second
clips, local runner) on each in its own process and reads its peak resident memory
(``VmHWM``). Target: flat, the long file's peak within 1.2x of the short one's (measured in the
same run); memory is bounded by what is in flight (``datapipe.engine.execution.SLICE_BYTES``), not by
the video's length.
"""

from __future__ import annotations

import json
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from benchmarks.peak_memory import run_with_peak

SECONDS = [float(s) for s in os.environ.get("BENCH_VIDEO_SECONDS", "10,600").split(",")]
FPS, WIDTH, HEIGHT, MARGIN = 30, 1280, 720, 400


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A (H + MARGIN, W + MARGIN, 3) float32 texture: noise at scales 2, 8 and 32 pixels."""
    import cv2

    size = (WIDTH + MARGIN, HEIGHT + MARGIN)
    tex = np.full((size[1], size[0], 3), 128.0, np.float32)
    for s in (2, 8, 32):
        noise = rng.normal(0, 40, (size[1] // s + 1, size[0] // s + 1, 3)).astype(np.float32)
        tex += cv2.resize(noise, size, interpolation=cv2.INTER_LINEAR)
    return tex


def write_textured_clip(path: Path, seconds: float = 10.0) -> None:
    """A textured 720p H.264 file (see the module docstring), CRF 18."""
    import av

    rng = np.random.default_rng(0)
    tex = _texture(rng)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(int(seconds * FPS)):
            x, y = int(MARGIN / 2 + 150 * np.sin(i / 40)), int(MARGIN / 2 + 150 * np.cos(i / 55))
            img = tex[y : y + HEIGHT, x : x + WIDTH] + rng.normal(0, 3, (HEIGHT, WIDTH, 3)).astype(np.float32)
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def tile_in_time(clip: Path, path: Path, repeats: int) -> None:
    """``clip`` played ``repeats`` times in one file: its packets copied with shifted timestamps
    (each copy starts on the clip's first keyframe, so the result decodes like real footage)."""
    import av

    with av.open(str(clip)) as src, av.open(str(path), mode="w") as dst:
        ins = src.streams.video[0]
        out = dst.add_stream_from_template(ins)
        packets = [p for p in src.demux(ins) if p.size]
        span = max(p.pts + p.duration for p in packets) - min(p.pts for p in packets)
        for k in range(repeats):
            for p in packets:
                copy = av.Packet(bytes(p))
                copy.pts, copy.dts, copy.duration = p.pts + k * span, p.dts + k * span, p.duration
                copy.is_keyframe, copy.time_base, copy.stream = p.is_keyframe, p.time_base, out
                dst.mux(copy)


def ingest_peak(video: Path, work: Path) -> tuple[int, float, float]:
    """(clips written, seconds, peak MiB) of ``ingest.video_files -> sink.webdataset`` on
    ``video``, run by ``datapipe run --local`` in a fresh process."""
    wf = work / f"{video.stem}.yaml"
    shards = work / f"{video.stem}-shards"
    wf.write_text(
        json.dumps(
            {
                "name": "video-ingest-bench",
                "stages": [
                    {"id": "videos", "uses": "ingest.video_files", "with": {"paths": [str(video)], "clip_seconds": 10}},
                    {"id": "shards", "uses": "sink.webdataset", "needs": ["videos"], "with": {"path": str(shards)}},
                ],
            }
        )
    )
    run = work / f"{video.stem}-run"
    code = (
        "import sys; from datapipe.cli import main; "
        f"rc = main(['run', '--local', '--no-progress', '--out', {str(run)!r}, {str(wf)!r}]); "
        "assert rc == 0, rc"
    )
    _, elapsed, peak = run_with_peak(code)
    clips = json.loads((shards / "index.json").read_text())["episodes"]
    return clips, elapsed, peak


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        clip = work / "textured_10s.mp4"
        write_textured_clip(clip)
        results = []
        for seconds in SECONDS:
            video = work / f"ego_{seconds:g}s.mp4"
            tile_in_time(clip, video, max(1, round(seconds / 10)))
            results.append((seconds, video.stat().st_size, *ingest_peak(video, work)))
            video.unlink()
        base = results[0][4]
        for seconds, size, clips, elapsed, peak in results:
            print(
                f"video_ingest: {seconds:g} s textured 720p ({size / 2**20:.0f} MiB file) -> {clips} clips in "
                f"{elapsed:.0f} s, workflow peak {peak:.0f} MiB (ratio {peak / base:.2f} of the {SECONDS[0]:g} s "
                f"file; target: flat, within 1.2)",
                flush=True,
            )


if __name__ == "__main__":
    main()

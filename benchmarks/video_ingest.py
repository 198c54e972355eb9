"""Peak memory of ``ingest.video_files`` on a 1-minute and a 10-minute 720p file.

The benchmark writes both files (H.264, 1280x720, 30 fps, a moving pattern), then cuts each into
10-second clips with ``ingest.video_files`` in its own process, which reports its peak resident
memory (``VmHWM``). Target: the 10-minute file within 1 GiB, and no growth with length (ratio
against the 1-minute file, measured in the same run, about 1).
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from benchmarks.peak_memory import run_with_peak

MINUTES = [float(m) for m in os.environ.get("BENCH_VIDEO_MINUTES", "1,10").split(",")]
FPS, WIDTH, HEIGHT = 30, 1280, 720


def write_video(path: Path, seconds: float) -> None:
    """A 720p H.264 file: a gradient with a moving bright square (cheap to draw and to encode)."""
    import av

    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([xx * 200 // WIDTH, yy * 200 // HEIGHT, np.full_like(xx, 60)], -1).astype(np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28"}
        for i in range(int(seconds * FPS)):
            img = base.copy()
            x, y = (i * 7) % (WIDTH - 120), (i * 3) % (HEIGHT - 120)
            img[y : y + 120, x : x + 120] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def ingest_peak(path: Path) -> tuple[int, float, float]:
    """(clips, seconds, peak MiB) of ``ingest.video_files`` over ``path`` in a fresh process."""
    code = (
        "from stages.ingest.video_files import VideoFiles, VideoFilesConfig; "
        f"stage = VideoFiles(VideoFilesConfig(paths=({str(path)!r},), clip_seconds=10.0)); "
        f"print('CLIPS', sum(1 for _ in stage.read({str(path)!r})))"
    )
    out, elapsed, peak = run_with_peak(code)
    clips = int(next(line for line in out.splitlines() if line.startswith("CLIPS")).split()[1])
    return clips, elapsed, peak


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        results = []
        for minutes in MINUTES:
            path = Path(d) / f"ego_{minutes:g}min.mp4"
            write_video(path, minutes * 60)
            results.append((minutes, path.stat().st_size, *ingest_peak(path)))
        base_peak = results[0][4]
        for minutes, size, clips, elapsed, peak in results:
            print(
                f"video_ingest: {minutes:g} min 720p ({size / 2**20:.0f} MiB file) -> {clips} clips in "
                f"{elapsed:.0f} s, peak {peak:.0f} MiB (ratio {peak / base_peak:.2f} of the {MINUTES[0]:g}-min "
                f"file; target: within 1024 MiB, no growth)",
                flush=True,
            )


if __name__ == "__main__":
    main()

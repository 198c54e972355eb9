"""Same frames, same bytes: H.264 encodes of identical frames are identical, run after run.

x264 on an AVX-512 CPU gave other bytes (and other decoded pixels) now and then for the same
frames; the program below (:class:`~datapipe.records.video.Mp4Writer`'s encoder settings, spelled out) showed it
in 7 of 200 encodes before :func:`datapipe.records.video.x264_asm`.
It runs in a fresh interpreter because what x264 read depends on the process's heap history.
"""

from __future__ import annotations

import subprocess
import sys

from datapipe.records.video import h264_options, x264_asm
from tests.conftest import REPO

ENCODES = 200

PROGRAM = f"""
import hashlib, io
from fractions import Fraction
import av, cv2, numpy as np
from datapipe.records.video import h264_options
frames = np.random.default_rng(0).integers(0, 255, (20, 240, 320, 3), dtype=np.uint8)
yuvs = [cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420) for f in frames]
digests = set()
for _ in range({ENCODES}):
    buf = io.BytesIO()
    container = av.open(buf, mode="w", format="mp4")
    stream = container.add_stream("libx264", rate=Fraction(10))
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    stream.options = h264_options(4, "veryfast")
    stream.codec_context.thread_count = 1
    for yuv in yuvs:
        for packet in stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    digests.add(hashlib.sha256(buf.getvalue()).hexdigest())
print(len(digests))
"""


def test_200_encodes_of_the_same_frames_give_one_output():
    out = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO, check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["1"], out.stdout


def test_x264_is_kept_off_avx512_only_where_the_cpu_has_it(tmp_path):
    avx512 = tmp_path / "avx512"
    avx512.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx fma bmi1 bmi2 avx2 avx512f\n")
    older = tmp_path / "older"
    older.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx avx2\n")
    assert x264_asm(str(avx512)) == "MMX2,SSE,SSE2,SSE2Fast,SSSE3,SSE4.1,SSE4.2,AVX,FMA3,BMI1,BMI2,AVX2,Cache64"
    assert x264_asm(str(older)) is None and x264_asm(str(tmp_path / "absent")) is None
    assert set(h264_options(23, "veryfast")) <= {"crf", "preset", "x264-params"}

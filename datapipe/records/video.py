"""Encoding and decoding of camera frames: H.264 mp4 through PyAV, or JPEG per frame through OpenCV.

Frames are ``uint8`` arrays of shape ``(T, H, W, 3)`` in RGB order. H.264 with yuv420p needs even
sizes, so odd sizes are padded by edge replication before encoding and cropped after decoding.
"""

from __future__ import annotations

import functools
import io
from fractions import Fraction

import numpy as np

from datapipe.errors import DatapipeError

H264_CODEC = "libx264"
ENCODER_THREADS = 1


class VideoError(DatapipeError):
    """Video bytes that cannot be read (damaged, empty, no video stream): bad input, never a bug.

    Frames of the wrong dtype or shape handed to an encoder are a caller's bug and raise
    ``ValueError``."""


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"camera frames must be uint8 (T, H, W, 3) RGB, got {frames.dtype} {frames.shape}")
    if frames.shape[0] == 0:
        raise ValueError("camera frames are empty (T = 0)")
    return frames


# x264's names of the SIMD levels below AVX-512, and the /proc/cpuinfo flag of each
_X264_LEVELS = (
    ("MMX2", "sse"),
    ("SSE", "sse"),
    ("SSE2", "sse2"),
    ("SSE2Fast", "ssse3"),
    ("SSE3", "pni"),
    ("SSSE3", "ssse3"),
    ("SSE4.1", "sse4_1"),
    ("SSE4.2", "sse4_2"),
    ("LZCNT", "abm"),
    ("AVX", "avx"),
    ("XOP", "xop"),
    ("FMA4", "fma4"),
    ("FMA3", "fma"),
    ("BMI1", "bmi1"),
    ("BMI2", "bmi2"),
    ("AVX2", "avx2"),
)


@functools.cache
def x264_asm(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """x264's ``asm`` setting here: the CPU's SIMD levels without AVX-512, or None (x264's own
    choice) where the CPU has no AVX-512 or its flags cannot be read.

    x264 (core 165) on an AVX-512 CPU gave other bytes, and other decoded pixels, for the same
    frames in about 1 of 30 single-threaded encodes (7 of 200 here, 28 of 200 with AVX-512 named
    explicitly, 0 of 200 with the same levels minus AVX-512): its AVX-512 code reads memory it
    has not written. Without AVX-512 its output is the one the good AVX-512 encodes give, at the
    same speed.
    """
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            line = next((row for row in f if row.startswith("flags")), "")
    except OSError:
        return None
    flags = set(line.partition(":")[2].split())
    if "avx512f" not in flags:
        return None
    return ",".join([name for name, flag in _X264_LEVELS if flag in flags] + ["Cache64"])


def h264_options(crf: int, preset: str) -> dict[str, str]:
    """The libx264 options of an encode (``crf``, ``preset``, and :func:`x264_asm` if any)."""
    options = {"crf": str(crf), "preset": preset}
    asm = x264_asm()
    if asm:
        options["x264-params"] = f"asm={asm}"
    return options


class Mp4Writer:
    """Encode RGB frames one at a time into an H.264 mp4 held in memory (constant memory in the
    number of frames, apart from the encoded bytes). Every frame is timestamped at ``i / fps``
    seconds; odd sizes are padded to even by edge replication (crop after decoding).

    RGB is converted to yuv420p by OpenCV (fixed-point), the encoder runs a fixed number of
    threads and x264 is kept off AVX-512 (:func:`x264_asm`), so that the same frames give the
    same bytes, run after run.
    """

    def __init__(self, fps: float, crf: int = 23, preset: str = "veryfast"):
        import av

        self.fps, self.crf, self.preset = fps, crf, preset
        self.buf = io.BytesIO()
        self.container = av.open(self.buf, mode="w", format="mp4")
        self.stream = None
        self.size: tuple[int, int] | None = None  # (height, width) of the frames given
        self.n_frames = 0

    def _open(self, h: int, w: int) -> None:
        stream = self.container.add_stream(H264_CODEC, rate=Fraction(self.fps).limit_denominator(1001))
        stream.width, stream.height = w + w % 2, h + h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = h264_options(self.crf, self.preset)
        stream.codec_context.thread_count = ENCODER_THREADS
        self.stream, self.size = stream, (h, w)

    def add(self, frame_rgb: np.ndarray) -> None:
        """Encode one RGB ``uint8`` frame ``(H, W, 3)`` (every frame of the same size)."""
        import av
        import cv2

        frame_rgb = np.asarray(frame_rgb)
        if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[-1] != 3:
            raise ValueError(f"a camera frame must be uint8 (H, W, 3) RGB, got {frame_rgb.dtype} {frame_rgb.shape}")
        h, w = frame_rgb.shape[:2]
        if self.stream is None:
            self._open(h, w)
        elif (h, w) != self.size:
            raise ValueError(f"frame {self.n_frames} is {w}x{h}, the first was {self.size[1]}x{self.size[0]}")
        if h % 2 or w % 2:
            frame_rgb = np.pad(frame_rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        yuv = cv2.cvtColor(np.ascontiguousarray(frame_rgb), cv2.COLOR_RGB2YUV_I420)
        for packet in self.stream.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p")):
            self.container.mux(packet)
        self.n_frames += 1

    def close(self) -> bytes:
        """Flush the encoder; return the mp4 file's bytes."""
        if self.stream is None:
            self.container.close()
            raise ValueError("camera frames are empty (T = 0)")
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        return self.buf.getvalue()


def encode_mp4(frames: np.ndarray, fps: float, crf: int = 23, preset: str = "veryfast") -> bytes:
    """Encode RGB frames ``(T, H, W, 3)`` into an H.264 mp4 file held in memory (:class:`Mp4Writer`).

    ``crf`` is x264's constant rate factor (0 = lossless, 23 = default, 51 = worst).
    Every frame is timestamped at ``i / fps`` seconds. Odd sizes are padded to even.
    """
    frames = _check_frames(frames)
    writer = Mp4Writer(fps, crf, preset)
    for frame in frames:
        writer.add(frame)
    return writer.close()


STRICT_DECODE = {"err_detect": "explode+crccheck+bitstream+buffer"}


def decode_mp4(data: bytes, width: int | None = None, height: int | None = None, strict: bool = False) -> np.ndarray:
    """Decode an mp4 held in memory to RGB frames ``(T, H, W, 3)``, cropped to ``width``x``height``.

    ``strict``: stop at the first error the decoder detects instead of concealing it (to verify
    data; damage that breaks no syntax still decodes, only checksums find all of it). Errors
    raise :class:`VideoError`."""
    import av

    frames = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise VideoError("mp4 holds no video stream")
            stream = container.streams.video[0]
            if strict:
                stream.codec_context.options = dict(STRICT_DECODE)
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as exc:  # damaged bytes: a VideoError like every other decode error
        raise VideoError(f"mp4 cannot be decoded ({exc})") from None
    if not frames:
        raise VideoError("mp4 holds no decodable video frame")
    out = np.stack(frames)
    if width is not None and height is not None:
        out = out[:, :height, :width]
    return out


def count_frames(data: bytes) -> int:
    """Video frames (packets) in an mp4 held in memory, without decoding them; :class:`VideoError`
    if it is not a readable video."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise VideoError("mp4 holds no video stream")
            return sum(1 for p in container.demux(video=0) if p.size)
    except av.error.FFmpegError as exc:
        raise VideoError(f"not a readable mp4 ({exc})") from None


def codec_name(data: bytes) -> str:
    """The codec of an in-memory video's first video stream (``h264``, ``av1``...); "" if unreadable."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            return container.streams.video[0].codec_context.name if container.streams.video else ""
    except av.error.FFmpegError:
        return ""


def encode_jpeg(frames: np.ndarray, quality: int = 90) -> list[bytes]:
    """Encode RGB frames ``(T, H, W, 3)`` to one JPEG each (``quality`` 0..100)."""
    import cv2

    frames = _check_frames(frames)
    out = []
    for frame in frames:
        ok, buf = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise ValueError("OpenCV failed to encode a JPEG frame")
        out.append(buf.tobytes())
    return out


def decode_jpeg(frames: list[bytes]) -> np.ndarray:
    """Decode a list of JPEG files to RGB frames ``(T, H, W, 3)`` (:class:`VideoError` if one
    cannot be decoded)."""
    import cv2

    decoded = []
    for i, data in enumerate(frames):
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise VideoError(f"JPEG frame {i} cannot be decoded")
        decoded.append(img[..., ::-1])
    return np.stack(decoded)


def resize_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """RGB ``(T, H, W, 3)`` frames resized to ``(T, height, width, 3)`` (area averaging when
    shrinking, bilinear when growing); the aspect ratio is not kept."""
    import cv2

    if frames.shape[1:3] == (height, width):
        return frames
    shrink = height * width < frames.shape[1] * frames.shape[2]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(f, (width, height), interpolation=interp) for f in frames])

"""Encoding and decoding of camera frames: H.264 mp4 through PyAV, or JPEG per frame through OpenCV.

Frames are ``uint8`` arrays of shape ``(T, H, W, 3)`` in RGB order. H.264 with yuv420p needs even
sizes, so odd sizes are padded by edge replication before encoding and cropped after decoding.
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np

H264_CODEC = "libx264"
ENCODER_THREADS = 1


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"camera frames must be uint8 (T, H, W, 3) RGB, got {frames.dtype} {frames.shape}"
        )
    if frames.shape[0] == 0:
        raise ValueError("camera frames are empty (T = 0)")
    return frames


def encode_mp4(frames: np.ndarray, fps: float, crf: int = 23, preset: str = "veryfast") -> bytes:
    """Encode RGB frames ``(T, H, W, 3)`` into an H.264 mp4 file held in memory.

    ``crf`` is x264's constant rate factor (0 = lossless, 23 = default, 51 = worst).
    Every frame is timestamped at ``i / fps`` seconds. Odd sizes are padded to even.
    """
    import av
    import cv2

    frames = _check_frames(frames)
    t, h, w, _ = frames.shape
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    buf = io.BytesIO()
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream(H264_CODEC, rate=rate)
        stream.width, stream.height = w + pad_w, h + pad_h
        stream.pix_fmt = "yuv420p"
        # a fixed thread count: x264's output depends on it, and the same frames must give the same
        # bytes in every process (Ray workers see other CPU counts than the driver)
        stream.options = {"crf": str(crf), "preset": preset}
        stream.codec_context.thread_count = ENCODER_THREADS
        for frame_rgb in frames:
            # converted to yuv420p by OpenCV (fixed-point, bit-exact), not by FFmpeg's swscale, whose
            # output for the same frames varies now and then; runs must give the same bytes
            yuv = cv2.cvtColor(np.ascontiguousarray(frame_rgb), cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def decode_mp4(data: bytes, width: int | None = None, height: int | None = None) -> np.ndarray:
    """Decode an mp4 held in memory to RGB frames ``(T, H, W, 3)``, cropped to ``width``x``height``."""
    import av

    frames = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            for frame in container.decode(video=0):
                frames.append(frame.to_ndarray(format="rgb24"))
    except av.error.FFmpegError as exc:  # damaged bytes: a ValueError like every other decode error
        raise ValueError(f"mp4 cannot be decoded ({exc})") from None
    if not frames:
        raise ValueError("mp4 holds no decodable video frame")
    out = np.stack(frames)
    if width is not None and height is not None:
        out = out[:, :height, :width]
    return out


def count_frames(data: bytes) -> int:
    """Video frames (packets) in an mp4 held in memory, without decoding them; ``ValueError`` if
    it is not a readable video."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise ValueError("mp4 holds no video stream")
            return sum(1 for p in container.demux(video=0) if p.size)
    except av.error.FFmpegError as exc:
        raise ValueError(f"not a readable mp4 ({exc})") from None


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
    """Decode a list of JPEG files to RGB frames ``(T, H, W, 3)``."""
    import cv2

    decoded = []
    for i, data in enumerate(frames):
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"JPEG frame {i} cannot be decoded")
        decoded.append(img[..., ::-1])
    return np.stack(decoded)

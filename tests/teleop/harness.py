"""Test helpers for the teleoperation tests (the server and browser helpers live in
:mod:`datapipe.teleop.loopback`)."""

from __future__ import annotations

from pathlib import Path


def video_to_y4m(video: Path, out: Path, size: tuple[int, int] = (640, 360), seconds: float = 4.0) -> Path:
    """The first ``seconds`` of ``video`` as a YUV4MPEG2 file (4:2:0), which Chromium plays as a
    fake webcam (``--use-file-for-fake-video-capture``), resized to ``size`` (width, height)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    w, h = size
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{round(fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(int(seconds * fps)):
            ok, bgr = cap.read()
            if not ok:
                break
            f.write(b"FRAME\n" + cv2.cvtColor(cv2.resize(bgr, size), cv2.COLOR_BGR2YUV_I420).tobytes())
    cap.release()
    return out

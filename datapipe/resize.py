"""Resizing an episode's cameras to one size (datasets mixing sources whose cameras differ)."""

from __future__ import annotations

from datapipe.records import CameraStream, Episode


def resized_cameras(ep: Episode, height: int, width: int) -> Episode:
    """``ep`` with every camera at ``height`` x ``width`` (re-encoded only where it differs)."""
    from datapipe import video

    changed = {k: c for k, c in ep.cameras.items() if (c.height, c.width) != (height, width)}
    if not changed:
        return ep
    cameras = dict(ep.cameras)
    for name, cam in changed.items():
        cameras[name] = CameraStream.from_frames(
            video.resize_frames(cam.frames(), height, width), ep.fps, cam.encoding, quality=95
        )
    original = {k: [c.height, c.width] for k, c in changed.items()}
    return ep.replace(cameras=cameras).with_meta(resized_cameras={**ep.meta.get("resized_cameras", {}), **original})

"""Hand landmarks in video with MediaPipe, and what makes tracks usable: handedness for
non-mirrored video, gap filling, One Euro smoothing and jitter measures.

Landmarks (MediaPipe's 21: 0 wrist, 1-4 thumb CMC..tip, 5-8 index MCP..tip, 9-12 middle,
13-16 ring, 17-20 pinky): ``image`` in pixels (x right, y down), ``world`` in metres (MediaPipe's
hand-centred metric frame, origin near the hand's geometric centre). The models come from the
mediapipe wheel (0.10.14 bundles them); nothing is downloaded.

MediaPipe's legacy handedness assumes a mirrored (selfie) image: for ordinary (non-mirrored)
video its "Left" is the person's right hand, so labels are swapped unless ``mirrored``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from datapipe.generators.hands.one_euro import one_euro

SIDES = ("left", "right")
N_LANDMARKS = 21


@dataclass
class HandTrack:
    """One hand over ``T`` frames (NaN where absent)."""

    image: np.ndarray  # (T, 21, 2) px
    world: np.ndarray  # (T, 21, 3) m
    score: np.ndarray  # (T,) handedness confidence, 0 where absent
    present: np.ndarray  # (T,) bool: detected, or filled by interpolation
    interpolated: np.ndarray = field(default=None)  # (T,) bool

    @classmethod
    def empty(cls, T: int) -> HandTrack:
        return cls(
            np.full((T, N_LANDMARKS, 2), np.nan),
            np.full((T, N_LANDMARKS, 3), np.nan),
            np.zeros(T),
            np.zeros(T, bool),
            np.zeros(T, bool),
        )

    @property
    def detection_rate(self) -> float:
        detected = self.present & ~self.interpolated
        return float(detected.mean()) if len(detected) else 0.0


class HandTracker:
    """MediaPipe Hands in video mode (tracking across frames); one per worker."""

    def __init__(
        self, max_hands: int = 2, model_complexity: int = 1, min_detection: float = 0.5, min_tracking: float = 0.5
    ):
        import mediapipe as mp

        self._hands = mp.solutions.hands.Hands(
            static_image_mode=False,
            max_num_hands=max_hands,
            model_complexity=model_complexity,
            min_detection_confidence=min_detection,
            min_tracking_confidence=min_tracking,
        )

    def close(self) -> None:
        self._hands.close()

    def track(self, frames: np.ndarray, mirrored: bool = False) -> dict[str, HandTrack]:
        """Raw tracks of ``frames`` ``(T, H, W, 3)`` uint8 RGB, per side."""
        T, H, W = frames.shape[:3]
        tracks = {s: HandTrack.empty(T) for s in SIDES}
        for t, frame in enumerate(frames):
            result = self._hands.process(np.ascontiguousarray(frame))
            if not result.multi_hand_landmarks:
                continue
            found = []
            for lm, world, hd in zip(
                result.multi_hand_landmarks, result.multi_hand_world_landmarks, result.multi_handedness
            ):
                c = hd.classification[0]
                side = c.label.lower()
                if not mirrored:
                    side = "right" if side == "left" else "left"
                found.append((c.score, side, lm, world))
            found.sort(key=lambda f: -f[0])
            taken: set[str] = set()
            for score, side, lm, world in found:
                if side in taken:  # two hands with one label: the weaker takes the other side
                    free = [s for s in SIDES if s not in taken]
                    if not free:  # more sightings than sides (the tracker can overshoot): keep the best
                        break
                    side = free[0]
                taken.add(side)
                tr = tracks[side]
                tr.image[t] = [(p.x * W, p.y * H) for p in lm.landmark]
                tr.world[t] = [(p.x, p.y, p.z) for p in world.landmark]
                tr.score[t] = score
                tr.present[t] = True
        return tracks


def zoomed_out(frame: np.ndarray, pad: float) -> tuple[np.ndarray, int, int]:
    """``frame`` centred on a black canvas ``1 + pad`` times its size, and the frame's offset
    (x, y) in the canvas: hands that fill a close-up look like hands to the palm detector again."""
    h, w = frame.shape[:2]
    canvas = np.zeros((int(round(h * (1 + pad))), int(round(w * (1 + pad))), 3), np.uint8)
    y0, x0 = (canvas.shape[0] - h) // 2, (canvas.shape[1] - w) // 2
    canvas[y0 : y0 + h, x0 : x0 + w] = frame
    return canvas, x0, y0


def track_closeups(
    tracker: HandTracker, frames: np.ndarray, pad: float, mirrored: bool = False
) -> dict[str, HandTrack]:
    """Tracks of ``frames`` seen zoomed out (:func:`zoomed_out`), in the frames' own pixels. Use a
    tracker of its own: MediaPipe's video mode carries state from frame to frame."""
    canvases, offsets = [], []
    for f in frames:
        canvas, x0, y0 = zoomed_out(f, pad)
        canvases.append(canvas)
        offsets.append((x0, y0))
    tracks = tracker.track(np.stack(canvases), mirrored)
    shift = np.array(offsets, np.float64)[:, None, :]
    for track in tracks.values():
        track.image = track.image - shift
    return tracks


def merge_tracks(primary: dict[str, HandTrack], extra: dict[str, HandTrack]) -> dict[str, HandTrack]:
    """``primary``'s tracks, with ``extra``'s detections where ``primary`` found no hand at all."""
    none = ~np.any([t.present for t in primary.values()], axis=0)
    out = {}
    for side, track in primary.items():
        add = none & extra[side].present
        image, world, score, present = track.image.copy(), track.world.copy(), track.score.copy(), track.present.copy()
        image[add], world[add], score[add] = extra[side].image[add], extra[side].world[add], extra[side].score[add]
        present |= add
        out[side] = HandTrack(image, world, score, present, np.zeros(len(present), bool))
    return out


def fill_gaps(track: HandTrack, max_gap: int) -> HandTrack:
    """Linearly interpolate gaps of at most ``max_gap`` frames between detections (marked in
    ``interpolated``); longer gaps stay absent."""
    present = track.present.copy()
    interp = np.zeros_like(present)
    idx = np.flatnonzero(present)
    image, world = track.image.copy(), track.world.copy()
    for a, b in zip(idx[:-1], idx[1:]):
        gap = b - a - 1
        if 0 < gap <= max_gap:
            for k in range(1, gap + 1):
                w = k / (gap + 1)
                image[a + k] = (1 - w) * image[a] + w * image[b]
                world[a + k] = (1 - w) * world[a] + w * world[b]
                present[a + k] = interp[a + k] = True
    return HandTrack(image, world, track.score, present, interp)


def _segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of True."""
    runs, start = [], None
    for t, m in enumerate(mask):
        if m and start is None:
            start = t
        elif not m and start is not None:
            runs.append((start, t))
            start = None
    if start is not None:
        runs.append((start, len(mask)))
    return runs


def smooth(track: HandTrack, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> HandTrack:
    """One Euro filter over each run of present frames (image and world landmarks)."""
    image, world = track.image.copy(), track.world.copy()
    for a, b in _segments(track.present):
        image[a:b] = one_euro(track.image[a:b], fps, min_cutoff, beta, d_cutoff)
        world[a:b] = one_euro(track.world[a:b], fps, min_cutoff, beta, d_cutoff)
    return HandTrack(image, world, track.score, track.present, track.interpolated)


def jitter(points: np.ndarray, present: np.ndarray) -> float:
    """Mean norm of the second difference of landmark positions over consecutive present frames
    (units of ``points`` per frame^2): how much a track shakes."""
    acc = []
    for a, b in _segments(present):
        if b - a >= 3:
            acc.append(np.linalg.norm(np.diff(points[a:b], n=2, axis=0), axis=-1).mean())
    return float(np.mean(acc)) if acc else 0.0

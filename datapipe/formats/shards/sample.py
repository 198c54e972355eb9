"""One episode as one WebDataset sample, and back.

A sample is the tar members sharing the key ``<key>`` (:func:`datapipe.records.names.sample_key` of the
episode id: the id itself when it is a plain identifier):

- ``<id>.meta.json``: everything but the arrays and frames: source, embodiment, task list, fps,
  length, success, meta, lineage, the episode schema version, and the dtype and shape of every
  step array and the size of every camera;
- ``<id>.<array>.npy``: one per step array (``observation.state``, ``action``, ``timestamp``...),
  ``numpy.save`` format, first axis the step;
- ``<id>.<camera>.mp4``: one H.264 mp4 per camera (JPEG-per-frame cameras are transcoded);
- ``<id>.task.txt``: the first instruction, UTF-8 (all of them are in ``meta.json``).

Step arrays and mp4 cameras round-trip bit-exactly. :func:`sample_digest` is the sha256 of a
sample's members (kept per episode in ``episodes.parquet``), so a reader can tell which sample of
a damaged shard is damaged.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.records import (
    CameraStream,
    Embodiment,
    Episode,
    LineageEntry,
    RecordError,
    Source,
    json_meta,
)
from datapipe.records.arrow import episode_to_row
from datapipe.records.names import is_safe_name
from datapipe.schemas.episode import EPISODE_SCHEMA_VERSION

META = "meta.json"
TASK = "task.txt"


class SampleError(DatapipeError):
    """A sample's members are missing or malformed; the message names the shard and member."""


def npy_bytes(arr: np.ndarray) -> bytes:
    """``arr`` in ``.npy`` format."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def npy_array(data: bytes) -> np.ndarray:
    """The array of ``.npy`` bytes (no pickles)."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def sample_digest(members: Mapping[str, bytes]) -> str:
    """sha256 of a sample's members (suffixes, sizes and bytes, in order)."""
    h = hashlib.sha256()
    for suffix, data in members.items():
        h.update(f"{suffix}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _camera_mp4(ep: Episode, name: str, cam: CameraStream, crf: int) -> bytes:
    from datapipe.records import video

    if cam.encoding != "mp4":
        return video.encode_mp4(cam.frames(), ep.fps, crf=crf)
    data = cam.data[0]
    try:
        n = video.count_frames(data)
    except video.VideoError as exc:
        raise RecordError(f"episode {ep.episode_id!r}: camera {name!r}: {exc}") from None
    if n != ep.length:
        raise RecordError(f"episode {ep.episode_id!r}: camera {name!r}: its mp4 holds {n} frames for {ep.length} steps")
    return data


CONVERSATIONS = "conversations.json"


def episode_members(ep: Episode, jpeg_crf: int = 18) -> dict[str, bytes]:
    """The members of ``ep``'s sample: suffix (after ``<id>.``) -> bytes.

    ``jpeg_crf``: x264 CRF used when a JPEG-per-frame camera is transcoded to mp4."""
    row = episode_to_row(ep)
    for name in list(ep.steps) + list(ep.cameras):
        if f"{name}.npy" in (META, TASK) or f"{name}.mp4" in (META, TASK) or not is_safe_name(name):
            raise RecordError(
                f"episode {ep.episode_id!r}: array or camera name {name!r} cannot be a WebDataset member name"
            )
    names = [f"{n}.npy" for n in ep.steps] + [f"{n}.mp4" for n in ep.cameras]
    if len(set(names)) != len(names):
        raise RecordError(f"episode {ep.episode_id!r}: an array and a camera share a name")
    meta = {
        "episode_schema_version": EPISODE_SCHEMA_VERSION,
        "episode_id": ep.episode_id,
        "source": row["source"],
        "embodiment": row["embodiment"],
        "task": list(ep.task),
        "fps": float(ep.fps),
        "length": ep.length,
        "success": row["success"],
        "meta": row["meta"],  # JSON text, so the round trip keeps its exact form
        "lineage": row["lineage"],
        "steps": {k: {"dtype": v.dtype.str, "shape": list(v.shape[1:])} for k, v in ep.steps.items()},
        "cameras": {k: {"width": c.width, "height": c.height, "n_frames": c.n_frames} for k, c in ep.cameras.items()},
    }
    members = {META: json.dumps(meta).encode(), TASK: ep.task[0].encode()}
    for name, arr in ep.steps.items():
        members[f"{name}.npy"] = npy_bytes(arr)
    for name, cam in ep.cameras.items():
        members[f"{name}.mp4"] = _camera_mp4(ep, name, cam, jpeg_crf)
    if "conversations" in ep.meta:  # augment.conversations: a member of its own, for training readers
        members[CONVERSATIONS] = json.dumps(ep.meta["conversations"]).encode()
    return members


def read_meta(members: Mapping[str, bytes], where: str) -> dict[str, Any]:
    """The parsed ``meta.json`` of a sample; ``where`` names shard and key in errors."""
    if META not in members:
        raise SampleError(f"{where}: sample has no {META} member")
    try:
        return json.loads(members[META])
    except (ValueError, RecursionError) as exc:
        raise SampleError(f"{where}.{META}: not valid JSON: {exc}") from exc


class FrameCountError(SampleError):
    """A sample's video holds other than one frame per step."""


def camera_frames(ep: Episode, camera: str, where: str, strict: bool = False) -> np.ndarray:
    """Decoded frames ``(T, H, W, 3)`` of one camera of a sample's episode; a video that cannot be
    decoded raises :class:`SampleError`, one with other than a frame per step
    :class:`FrameCountError`, each naming ``<where>.<camera>.mp4``. ``strict``: stop at the first
    error the decoder detects instead of concealing it."""
    member = f"{where}.{camera}.mp4"
    if camera not in ep.cameras:
        raise SampleError(f"{member}: member missing")
    try:
        frames = ep.cameras[camera].frames(strict=strict)
    except Exception as exc:  # the decoder's own error types
        raise SampleError(f"{member}: cannot decode ({type(exc).__name__}: {exc})") from exc
    if len(frames) != ep.length:
        raise FrameCountError(f"{member}: {len(frames)} frames for {ep.length} steps")
    return frames


def members_episode(members: Mapping[str, bytes], where: str) -> Episode:
    """Rebuild the episode of a sample's members; ``where`` (``shard:key``) names it in errors.

    Any malformed member (missing, not JSON, a field of the wrong type, an array that is not
    ``.npy``) raises :class:`SampleError` naming the member."""
    meta = read_meta(members, where)
    if not isinstance(meta, dict):
        raise SampleError(f"{where}.{META}: expected a JSON object")
    try:
        steps = {}
        for name in meta["steps"]:
            member = f"{name}.npy"
            if member not in members:
                raise SampleError(f"{where}.{member}: member missing")
            try:
                steps[name] = npy_array(members[member])
            except Exception as exc:  # numpy raises several types for a damaged header
                raise SampleError(f"{where}.{member}: not a valid .npy: {type(exc).__name__}: {exc}") from exc
        cameras = {}
        for name, spec in meta["cameras"].items():
            member = f"{name}.mp4"
            if member not in members:
                raise SampleError(f"{where}.{member}: member missing")
            cameras[name] = CameraStream(
                encoding="mp4",
                width=int(spec["width"]),
                height=int(spec["height"]),
                n_frames=int(spec["n_frames"]),
                data=(members[member],),
            )
        src, emb = meta["source"], meta["embodiment"]
        return Episode(
            episode_id=meta["episode_id"],
            source=Source(kind=src["kind"], uri=src["uri"], span=src["span"], licence=src["licence"]),
            embodiment=Embodiment(
                robot=emb["robot"],
                action_names=tuple(emb["action_names"]),
                action_units=tuple(emb["action_units"]),
                action_frame=emb["action_frame"],
                state_names=tuple(emb["state_names"]),
                control_fps=emb["control_fps"],
                action_kinds=tuple(emb.get("action_kinds") or ()),
            ),
            task=tuple(meta["task"]),
            fps=float(meta["fps"]),
            steps=steps,
            cameras=cameras,
            success=meta["success"],
            meta=json_meta(meta["meta"]),
            lineage=tuple(LineageEntry(**e) for e in meta["lineage"]),
        )
    except SampleError:
        raise
    except KeyError as exc:
        raise SampleError(f"{where}.{META}: field {exc.args[0]!r} missing") from exc
    except (RecordError, TypeError, ValueError, AttributeError) as exc:
        raise SampleError(f"{where}.{META}: {type(exc).__name__}: {exc}") from exc

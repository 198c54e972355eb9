"""The episode record: what flows between stages.

An :class:`Episode` is one demonstration or clip. It is immutable: arrays are read-only and
mappings are read-only views; use :meth:`Episode.replace`, :meth:`Episode.with_steps`,
:meth:`Episode.with_meta` to derive new episodes.

Units are metres, radians and seconds; poses are position + quaternion (w, x, y, z) unless a
field's documentation says otherwise. Validation here is *structural* (required fields, dtypes,
shapes that agree with the episode length): content problems such as NaN actions or timestamp
gaps are legal records, found and reported by the audit.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.records.names import is_safe_name

SOURCE_KINDS = ("ego_video", "community", "sim", "teleop", "augmented", "synthetic")
REQUIRED_STEPS = ("timestamp", "observation.state", "action", "is_intervention", "reward")
CAMERA_ENCODINGS = ("mp4", "jpeg")
MAX_ID = 1000  # characters of an episode id (files use datapipe.records.names.sample_key of it)

# Fixed namespace of datapipe episode ids (uuid5), never change it: ids would stop matching.
EPISODE_ID_NAMESPACE = uuid.UUID("6f1e3d52-2a4b-5c8e-9d0f-7b6a5c4d3e21")


class RecordError(DatapipeError):
    """An episode (or a part of it) is malformed, or lacks what a stage needs (``run
    perception.hand_pose first``); the message names the field and the value."""


def make_episode_id(uri: str, span: str, stage_version: str) -> str:
    """Deterministic episode id: uuid5 of source ``uri`` + ``span`` + producing-stage version.

    Re-running the same stage version over the same source gives the same id, which makes
    runs idempotent and lets resume recognise finished episodes.
    """
    return str(uuid.uuid5(EPISODE_ID_NAMESPACE, f"{uri}\x1f{span}\x1f{stage_version}"))


@dataclass(frozen=True)
class Source:
    """Where an episode comes from.

    kind: one of ``SOURCE_KINDS``; uri: file, dataset or generator address; span: the part of the
    uri this episode covers, free text such as ``"t=12.0-22.0"`` (seconds) or ``"seed=17"``;
    licence: SPDX id or free text, ``None`` if unknown.
    """

    kind: str
    uri: str
    span: str = ""
    licence: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise RecordError(f"source.kind {self.kind!r} is not one of {SOURCE_KINDS}")
        if not isinstance(self.uri, str) or not self.uri:
            raise RecordError(f"source.uri must be a non-empty string, got {self.uri!r}")


# what an action dimension commands: a joint position (rad or m), an end-effector position or
# rotation (absolute, or a delta per step), a gripper that is open or closed (binary) or anywhere
# between (continuous), or something else
ACTION_KINDS = (
    "joint_position",
    "joint_velocity",
    "ee_position",
    "ee_rotation",
    "ee_position_delta",
    "ee_rotation_delta",
    "gripper_binary",
    "gripper_continuous",
    "other",
)


@dataclass(frozen=True)
class Embodiment:
    """The robot (or human hand) an episode's actions are for.

    action_names / action_units: one entry per action dimension (units such as ``"m"``,
    ``"rad"``, ``"1"`` for a normalised gripper); action_frame: the frame the action is expressed
    in (``"base"``, ``"ee"``, ``"joint"``...); state_names: one per ``observation.state`` dimension;
    control_fps: the rate the robot is commanded at, in Hz; action_kinds: what each action
    dimension commands (:data:`ACTION_KINDS`; empty when unknown), which the audit uses: a binary
    gripper steps between open and closed, a joint target does not jump.
    """

    robot: str
    action_names: tuple[str, ...] = ()
    action_units: tuple[str, ...] = ()
    action_frame: str = ""
    state_names: tuple[str, ...] = ()
    control_fps: float | None = None
    action_kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "action_kinds", tuple(self.action_kinds))
        unknown = sorted(set(self.action_kinds) - set(ACTION_KINDS))
        if unknown:
            raise RecordError(f"embodiment.action_kinds: unknown kinds {unknown}; known: {list(ACTION_KINDS)}")
        if self.action_kinds and self.action_names and len(self.action_kinds) != len(self.action_names):
            raise RecordError(
                f"embodiment.action_kinds has {len(self.action_kinds)} entries but "
                f"action_names has {len(self.action_names)}"
            )
        object.__setattr__(self, "action_names", tuple(self.action_names))
        object.__setattr__(self, "action_units", tuple(self.action_units))
        object.__setattr__(self, "state_names", tuple(self.state_names))
        if not self.robot:
            raise RecordError("embodiment.robot must be a non-empty string")
        if self.action_units and len(self.action_units) != len(self.action_names):
            raise RecordError(
                f"embodiment.action_units has {len(self.action_units)} entries but "
                f"action_names has {len(self.action_names)}"
            )


@dataclass(frozen=True)
class CameraStream:
    """One camera's frames, kept encoded between stages.

    encoding: ``"mp4"`` (``data`` holds one H.264 mp4 file) or ``"jpeg"`` (one JPEG per frame);
    width, height: pixels; n_frames: number of frames, equal to the episode length.
    Decode with :meth:`frames`.
    """

    encoding: str
    width: int
    height: int
    n_frames: int
    data: tuple[bytes, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", tuple(bytes(d) for d in self.data))
        if self.encoding not in CAMERA_ENCODINGS:
            raise RecordError(f"camera encoding {self.encoding!r} is not one of {CAMERA_ENCODINGS}")
        if self.encoding == "mp4" and len(self.data) != 1:
            raise RecordError(f"an mp4 camera holds exactly one file, got {len(self.data)}")
        if self.encoding == "jpeg" and len(self.data) != self.n_frames:
            raise RecordError(f"a jpeg camera holds one JPEG per frame: {len(self.data)} for {self.n_frames} frames")

    @classmethod
    def from_frames(cls, frames: np.ndarray, fps: float, encoding: str = "mp4", quality: int = 90) -> CameraStream:
        """Encode RGB ``uint8`` frames ``(T, H, W, 3)``; ``quality`` is JPEG quality (0..100)
        or, for mp4, mapped to an x264 CRF (100 -> 0 lossless, 90 -> 18, 50 -> 28)."""
        from datapipe.records import video

        frames = np.asarray(frames)
        t, h, w = frames.shape[:3] if frames.ndim == 4 else (0, 0, 0)
        if encoding == "mp4":
            crf = max(0, min(51, round((100 - quality) / 100 * 56)))
            data = (video.encode_mp4(frames, fps, crf=crf),)
        elif encoding == "jpeg":
            data = tuple(video.encode_jpeg(frames, quality=quality))
        else:
            raise RecordError(f"camera encoding {encoding!r} is not one of {CAMERA_ENCODINGS}")
        return cls(encoding=encoding, width=w, height=h, n_frames=t, data=data)

    def frames(self, strict: bool = False) -> np.ndarray:
        """Decode to RGB ``uint8`` frames ``(n_frames, height, width, 3)``; ``strict`` stops at
        the first decoding error instead of concealing it (``ValueError``)."""
        from datapipe.records import video

        if self.encoding == "mp4":
            return video.decode_mp4(self.data[0], self.width, self.height, strict=strict)
        return video.decode_jpeg(list(self.data))


@dataclass(frozen=True)
class LineageEntry:
    """One stage an episode passed through: registered name, version, hash of its config."""

    stage: str
    version: str
    config_hash: str


def _freeze_array(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object:
        raise RecordError(f"steps[{name!r}] has dtype object; per-step arrays must be numeric or bool")
    if arr.ndim == 0:
        raise RecordError(f"steps[{name!r}] is a scalar; per-step arrays have the step as first axis")
    view = arr.view()
    view.flags.writeable = False
    return view


class _JsonMeta(dict):
    """Metadata parsed from JSON text: serialisable by construction (see ``json_meta``)."""


def json_meta(text: str) -> dict[str, Any]:
    """Parse episode metadata from JSON text, marked so the episode skips re-checking it."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise RecordError(f"meta must be a JSON object, got {type(value).__name__}")
    return _JsonMeta(value)


def _check_json(meta: Mapping[str, Any]) -> None:
    try:
        json.dumps(meta, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"meta must be JSON-serialisable: {exc}") from exc


@dataclass(frozen=True)
class Episode:
    """One demonstration or clip (the README, "Concepts", describes the record).

    steps: name -> array whose first axis is the step (length ``T``). Required:
      ``timestamp`` float64 (T,) seconds since episode start;
      ``observation.state`` float (T, S) in the units of ``embodiment.state_names``;
      ``action`` float (T, A) in ``embodiment.action_frame`` / ``action_units``;
      ``is_intervention`` bool (T,) true where a human overrode the policy;
      ``reward`` float (T,).
    cameras: name -> :class:`CameraStream` with ``n_frames == T``.
    """

    episode_id: str
    source: Source
    embodiment: Embodiment
    task: tuple[str, ...]
    fps: float
    steps: Mapping[str, np.ndarray]
    cameras: Mapping[str, CameraStream] = field(default_factory=dict)
    success: bool | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    lineage: tuple[LineageEntry, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        meta_is_json = isinstance(self.meta, _JsonMeta)
        if isinstance(self.task, str):
            set_(self, "task", (self.task,))
        set_(self, "task", tuple(self.task))
        set_(self, "lineage", tuple(self.lineage))
        set_(self, "steps", MappingProxyType({k: _freeze_array(k, v) for k, v in self.steps.items()}))
        set_(self, "cameras", MappingProxyType(dict(self.cameras)))
        set_(self, "meta", MappingProxyType(dict(self.meta)))
        self.validate(check_meta=not meta_is_json)

    # -- validation -------------------------------------------------------------------------
    def validate(self, check_meta: bool = True) -> None:
        """Raise :class:`RecordError` naming the field if the episode is structurally malformed.

        ``check_meta=False`` skips the JSON-serialisability check of ``meta`` (for metadata that
        was just parsed from JSON text)."""
        where = f"episode {self.episode_id!r}"
        if not isinstance(self.episode_id, str) or not self.episode_id or len(self.episode_id) > MAX_ID:
            raise RecordError(f"episode_id must be a non-empty string of at most {MAX_ID} characters")
        if not isinstance(self.source, Source):
            raise RecordError(f"{where}: source must be a Source, got {type(self.source).__name__}")
        if not isinstance(self.embodiment, Embodiment):
            raise RecordError(f"{where}: embodiment must be an Embodiment")
        if not self.task or not all(isinstance(t, str) for t in self.task):
            raise RecordError(f"{where}: task must be one or more strings, got {self.task!r}")
        if not (isinstance(self.fps, (int, float)) and np.isfinite(self.fps) and self.fps > 0):
            raise RecordError(f"{where}: fps must be a positive number, got {self.fps!r}")
        if self.success is not None and not isinstance(self.success, (bool, np.bool_)):
            raise RecordError(f"{where}: success must be true, false or null, got {self.success!r}")
        for kind, names in (("steps", self.steps), ("cameras", self.cameras)):
            bad = [n for n in names if not is_safe_name(n)]
            if bad:
                raise RecordError(
                    f"{where}: {kind} name {bad[0]!r} is not allowed (letters, digits, _ - . and at "
                    f"most 64 characters; it becomes part of file names)"
                )
        missing = [k for k in REQUIRED_STEPS if k not in self.steps]
        if missing:
            raise RecordError(f"{where}: steps lack required arrays {missing}")
        length = self.length
        if length < 1:
            raise RecordError(f"{where}: an episode has at least one step")
        for name, arr in self.steps.items():
            if arr.shape[0] != length:
                raise RecordError(f"{where}: steps[{name!r}] has {arr.shape[0]} steps, timestamp has {length}")
        self._check_dtype("timestamp", ("f8",), ndim=1)
        self._check_dtype("observation.state", ("f4", "f8"), ndim=2)
        self._check_dtype("action", ("f4", "f8"), ndim=2)
        self._check_dtype("is_intervention", ("b1",), ndim=1)
        self._check_dtype("reward", ("f4", "f8"), ndim=1)
        names = self.embodiment.action_names
        if names and self.steps["action"].shape[1] != len(names):
            raise RecordError(
                f"{where}: action has {self.steps['action'].shape[1]} dimensions but "
                f"embodiment.action_names has {len(names)}"
            )
        names = self.embodiment.state_names
        if names and self.steps["observation.state"].shape[1] != len(names):
            raise RecordError(
                f"{where}: observation.state has {self.steps['observation.state'].shape[1]} "
                f"dimensions but embodiment.state_names has {len(names)}"
            )
        for cam_name, cam in self.cameras.items():
            if not isinstance(cam, CameraStream):
                raise RecordError(f"{where}: cameras[{cam_name!r}] must be a CameraStream")
            if cam.n_frames != length:
                raise RecordError(f"{where}: cameras[{cam_name!r}] has {cam.n_frames} frames for {length} steps")
        if check_meta:
            _check_json(dict(self.meta))

    def _check_dtype(self, name: str, kinds: tuple[str, ...], ndim: int) -> None:
        arr = self.steps[name]
        code = arr.dtype.kind + str(arr.dtype.itemsize)
        if code not in kinds or arr.ndim != ndim:
            raise RecordError(
                f"episode {self.episode_id!r}: steps[{name!r}] must be {ndim}-D of dtype "
                f"{'/'.join(kinds)}, got {arr.ndim}-D {arr.dtype}"
            )

    # -- accessors and derivation -----------------------------------------------------------
    @property
    def length(self) -> int:
        """Number of steps ``T``."""
        return int(self.steps["timestamp"].shape[0])

    @property
    def payload_bytes(self) -> int:
        """Bytes the episode holds: its step arrays and its encoded camera data."""
        steps = sum(np.asarray(v).nbytes for v in self.steps.values())
        return steps + sum(len(d) for cam in self.cameras.values() for d in cam.data)

    @property
    def duration_s(self) -> float:
        """Nominal duration in seconds: ``length / fps``."""
        return self.length / self.fps

    def replace(self, **changes: Any) -> Episode:
        """A new episode with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_steps(self, **arrays: np.ndarray) -> Episode:
        """A new episode with step arrays added or replaced (``**{"hand.keypoints": arr}``)."""
        return self.replace(steps={**self.steps, **arrays})

    def with_meta(self, **values: Any) -> Episode:
        """A new episode with metadata keys added or replaced."""
        return self.replace(meta={**self.meta, **values})

    def with_lineage(self, entry: LineageEntry) -> Episode:
        """A new episode with ``entry`` appended to its lineage.

        Lineage cannot make a valid episode invalid, so this copy skips re-validation (it runs
        once per episode per stage)."""
        if not isinstance(entry, LineageEntry):
            raise RecordError(f"lineage entries are LineageEntry, got {type(entry).__name__}")
        derived = copy.copy(self)
        object.__setattr__(derived, "lineage", (*self.lineage, entry))
        return derived

    def equals(self, other: Episode) -> bool:
        """Field-by-field equality, arrays compared bit-exactly (dtype, shape and bytes)."""
        if not isinstance(other, Episode):
            return False
        scalars = ("episode_id", "source", "embodiment", "task", "fps", "success", "lineage")
        if any(getattr(self, f) != getattr(other, f) for f in scalars):
            return False
        if dict(self.cameras) != dict(other.cameras):
            return False
        if json.dumps(dict(self.meta), sort_keys=True) != json.dumps(dict(other.meta), sort_keys=True):
            return False
        if set(self.steps) != set(other.steps):
            return False
        return all(
            a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
            for a, b in ((self.steps[k], other.steps[k]) for k in self.steps)
        )


def episode_ids(episodes: Iterable[Episode]) -> list[str]:
    """The ids of ``episodes`` in order."""
    return [e.episode_id for e in episodes]

"""Per-dataset standardization: one declarative config per dataset family turns its episodes into
datapipe's convention (:mod:`datapipe.standardize.action_space`): camera roles, state and action selected
and concatenated, the action converted to the target space and units, the gripper to [0, 1]
with 1 = open, an all-zero first action and no-op steps dropped, resampled to one fps, cameras
resized to one size. Every conversion is listed in ``meta.standardized``.

A config (YAML under ``workflows/datasets/``)::

    dataset: robomimic_lift
    robot: panda
    cameras: {agentview: primary, robot0_eye_in_hand: wrist}   # role, or drop
    state: [observation.state]                               # arrays, "name[a:b]" for a slice
    action:
      keys: [action]
      space: ee_delta          # joint_absolute | joint_delta | ee_absolute | ee_delta
      to: ee_delta             # target space (default: unchanged)
      rotation: rotvec         # ee input rotation: rotvec | euler_xyz | quaternion_wxyz | quaternion_xyzw
      units: auto              # joint spaces: auto | radians | degrees | normalized100
      ranges: []               # normalized100: [low, high] radians per joint
      state_joints: ""         # joint spaces: the state slice of the measured joints ("a:b")
      lookahead: 0             # arm action of step t = the keys at t + lookahead (measured -> target)
    gripper: {index: -1, kind: binary, range: [-1, 1], open: low, output: binary}
    drop_noops: true
    fps: 10                    # 0: keep
    image_size: [128, 128]     # absent: keep
    image_fit: stretch         # stretch (whole frame) or crop (the centre at the size's aspect ratio)
    pad_state: 16              # zero-pad the state (0: keep its size)
    keep_steps: []             # other arrays to keep (default: only the standard ones)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from datapipe.records import CameraStream, Embodiment, Episode
from datapipe.standardize import action_space as sp
from datapipe.standardize.errors import StandardizeError

ROLES = ("primary", "secondary", "wrist", "drop")
STANDARD_STEPS = ("timestamp", "observation.state", "action", "reward", "is_intervention")
SPACES = ("joint_absolute", "joint_delta", "ee_absolute", "ee_delta")
ARM_KINDS = {  # action kinds of the end-effector target spaces (joint spaces: joint_position per joint)
    "ee_absolute": ("ee_position",) * 3 + ("ee_rotation",) * 3,
    "ee_delta": ("ee_position_delta",) * 3 + ("ee_rotation_delta",) * 3,
}


@dataclass(frozen=True)
class GripperSpec:
    # the gripper dimension(s) in the concatenated action (negative: from the end; a list for
    # several grippers, such as ALOHA's two arms)
    index: int | tuple[int, ...] = -1
    # binary (two values), continuous (a position), relative (a change per step)
    kind: Literal["binary", "continuous", "relative"] = "continuous"
    # raw values at the two ends
    range: tuple[float, float] = (0.0, 1.0)
    # which raw end means open
    open: Literal["high", "low"] = "high"
    # binary (0 or 1) or continuous ([0, 1]); 1 = open
    output: Literal["binary", "continuous"] = "continuous"


@dataclass(frozen=True)
class ActionSpec:
    keys: tuple[str, ...] = ("action",)
    space: Literal["joint_absolute", "joint_delta", "ee_absolute", "ee_delta"] = "joint_absolute"
    to: Literal["", "joint_absolute", "joint_delta", "ee_absolute", "ee_delta"] = ""
    rotation: Literal["rotvec", "euler_xyz", "quaternion_wxyz", "quaternion_xyzw"] = "rotvec"
    units: Literal["auto", "radians", "degrees", "normalized100"] = "auto"
    ranges: tuple[tuple[float, float], ...] = ()
    state_joints: str = ""
    position_scale: float = 1.0  # ee positions (or deltas) to metres: 0.001 for mm, 0.05 for robosuite's OSC
    rotation_scale: float = 1.0  # ee rotations (deltas) to radians: 0.5 for robosuite's OSC
    # the arm action of step t is the keys' value at step t + lookahead (the last step repeats): a
    # target recorded as the measured position it led to, for datasets that keep no joint commands
    lookahead: int = 0


@dataclass(frozen=True)
class DatasetStandard:
    dataset: str
    robot: str = ""
    cameras: dict[str, str] = field(default_factory=dict)
    keep_unmapped_cameras: bool = False
    state: tuple[str, ...] = ("observation.state",)
    action: ActionSpec = ActionSpec()
    gripper: GripperSpec | None = None
    drop_noops: bool = True
    drop_zero_first_action: bool = True
    fps: float = 0.0
    image_size: tuple[int, int] | None = None
    image_fit: Literal["stretch", "crop"] = "stretch"
    pad_state: int = 0  # zero-pad observation.state to this many dims (datasets of several robots)
    keep_steps: tuple[str, ...] = ()  # source arrays kept besides the standard ones (sim.state...)

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.cameras.items() if v not in ROLES}
        if bad:
            raise StandardizeError(f"dataset {self.dataset}: cameras {bad}: roles are {ROLES}")
        if self.action.lookahead < 0:
            raise StandardizeError(
                f"dataset {self.dataset}: action.lookahead must be >= 0, got {self.action.lookahead}"
            )
        if self.action.to and self.action.space.split("_")[0] != self.action.to.split("_")[0]:
            raise StandardizeError(
                f"dataset {self.dataset}: action.space {self.action.space} cannot become {self.action.to} "
                "(joint and end-effector spaces need the robot's kinematics)"
            )


def standard_from_dict(doc: dict[str, Any], where: str) -> DatasetStandard:
    """A :class:`DatasetStandard` from a parsed YAML mapping; errors name ``where`` and the field."""
    from datapipe.config import ConfigError, build_config

    try:
        doc = dict(doc)
        if isinstance(doc.get("action"), dict):
            doc["action"] = build_config(ActionSpec, doc["action"])
        if isinstance(doc.get("gripper"), dict):
            doc["gripper"] = build_config(GripperSpec, doc["gripper"])
        return build_config(DatasetStandard, doc)
    except ConfigError as exc:
        raise StandardizeError(f"{where}: {exc}") from None


_SLICE = re.compile(r"^(?P<name>[^\[]+)(\[(?P<a>-?\d*):(?P<b>-?\d*)\])?$")


def _slice(text: str) -> slice:
    a, _, b = text.partition(":")
    return slice(int(a) if a else None, int(b) if b else None)


def select(ep: Episode, keys: tuple[str, ...], what: str, dataset: str) -> np.ndarray:
    """``(T, D)`` float64: the named step arrays (``name`` or ``name[a:b]``) side by side."""
    parts = []
    for key in keys:
        m = _SLICE.match(key)
        if m is None or m["name"] not in ep.steps:
            raise StandardizeError(f"dataset {dataset}: {what}: no step array {key!r} (has {sorted(ep.steps)})")
        arr = np.asarray(ep.steps[m["name"]], np.float64).reshape(ep.length, -1)
        if m.group(2):
            arr = arr[:, _slice(f"{m['a']}:{m['b']}")]
        parts.append(arr)
    return np.concatenate(parts, axis=1)


def _convert_arm(
    arm: np.ndarray, state: np.ndarray, spec: ActionSpec, dataset: str, log: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """The arm part of the action in the target space and units, and the state with its joint
    dimensions in radians."""
    target = spec.to or spec.space
    if spec.space.startswith("joint"):
        units = spec.units
        if units == "auto":
            units = sp.detect_angle_units(arm if spec.space == "joint_absolute" else state)
            if units == "ambiguous":
                raise StandardizeError(
                    f"dataset {dataset}: joint values up to {np.abs(arm).max():.3g} could be degrees or +-100 "
                    "normalized units: declare action.units"
                )
            log.append(f"joint units detected: {units}")
        ranges = np.asarray(spec.ranges) if spec.ranges else None
        where = _slice(spec.state_joints) if spec.state_joints else slice(0, arm.shape[1])
        joints = state[:, where]
        if joints.shape[1] != arm.shape[1] and spec.space != target:
            raise StandardizeError(
                f"dataset {dataset}: action.state_joints gives {joints.shape[1]} joints for {arm.shape[1]} arm dims"
            )
        if units != "radians":
            arm = sp.to_radians(arm, units, ranges) if spec.space == "joint_absolute" else arm * _delta_scale(units)
            joints = sp.to_radians(joints, units, ranges)
            state = state.copy()
            state[:, where] = joints
            log.append(f"joints {units} -> radians (action and state)")
        if spec.space == "joint_absolute" and target == "joint_delta":
            arm = sp.joint_absolute_to_delta(arm, joints)
            log.append("joint absolute -> delta (command minus measured)")
        elif spec.space == "joint_delta" and target == "joint_absolute":
            arm = sp.joint_delta_to_absolute(arm, joints)
            log.append("joint delta -> absolute (measured plus delta)")
        return arm, state
    width = sp.rotation_width(spec.rotation)
    if arm.shape[1] != 3 + width:
        raise StandardizeError(
            f"dataset {dataset}: an {spec.space} action with {spec.rotation} rotations has {3 + width} arm dims, "
            f"got {arm.shape[1]}"
        )
    pos = arm[:, :3] * spec.position_scale
    rot = sp.to_rotation(arm[:, 3:] * spec.rotation_scale if spec.rotation == "rotvec" else arm[:, 3:], spec.rotation)
    if spec.rotation_scale != 1.0:
        if spec.rotation != "rotvec":
            raise StandardizeError(f"dataset {dataset}: action.rotation_scale applies to rotvec rotations only")
        log.append(f"ee rotations x{spec.rotation_scale:g} -> rad")
    if spec.position_scale != 1.0:
        log.append(f"ee positions x{spec.position_scale:g} -> m")
    if spec.space == "ee_absolute" and target == "ee_delta":
        log.append(f"ee absolute ({spec.rotation}) -> delta (rotvec)")
        return sp.ee_absolute_to_delta(pos, rot), state
    if spec.space == "ee_delta" and target == "ee_absolute":
        raise StandardizeError(f"dataset {dataset}: ee_delta -> ee_absolute needs the start pose; not supported")
    if spec.rotation != "rotvec":
        log.append(f"ee rotation {spec.rotation} -> rotvec")
    return np.concatenate([pos, rot.as_rotvec()], axis=1), state


def _delta_scale(units: str) -> float:
    if units == "degrees":
        return np.pi / 180
    raise StandardizeError("joint deltas in normalized100 units cannot be converted without a joint-range model")


def _keep_steps(ep: Episode, keep: np.ndarray) -> Episode:
    if keep.all():
        return ep
    steps = {k: np.asarray(v)[keep] for k, v in ep.steps.items()}
    steps["timestamp"] = np.arange(int(keep.sum()), dtype=np.float64) / ep.fps
    cams = {
        k: CameraStream.from_frames(c.frames()[keep], ep.fps, c.encoding, quality=95) for k, c in ep.cameras.items()
    }
    return ep.replace(steps=steps, cameras=cams)


def _check_roles(std: DatasetStandard, ep: Episode, cameras: dict[str, Any]) -> None:
    """Every role the config maps a camera to is filled: datasets mixed into one sink must give
    their episodes the same cameras, and a role missing here would fail only at the sink, after
    everything upstream ran (LeRobot's format holds one camera set per dataset)."""
    for role in sorted({r for r in std.cameras.values() if r != "drop"} - set(cameras)):
        names = sorted(n for n, r in std.cameras.items() if r == role)
        raise StandardizeError(
            f"dataset {std.dataset}: field 'cameras': episode {ep.episode_id} has no camera "
            f"{' or '.join(map(repr, names))} for the role {role!r} "
            f"(it has: {', '.join(sorted(ep.cameras)) or 'none'}); "
            f"map {names[0]}: drop in the config if this dataset has no such camera, and drop {role!r} in the "
            f"configs of the datasets mixed with it too"
        )


def standardize(ep: Episode, std: DatasetStandard) -> Episode:
    """``ep`` in datapipe's convention according to ``std`` (see the module docstring)."""
    from datapipe.records.resample import resample
    from datapipe.records.resize import resized_cameras

    log: list[str] = []
    state = select(ep, std.state, "state", std.dataset)
    raw = select(ep, std.action.keys, "action.keys", std.dataset)
    arm_dims = list(range(raw.shape[1]))
    gripper = None
    if std.gripper is not None:
        index = std.gripper.index if isinstance(std.gripper.index, tuple) else (std.gripper.index,)
        dims = [i % raw.shape[1] for i in index]
        for g in dims:
            arm_dims.remove(g)
        lo, hi = std.gripper.range
        relative = std.gripper.kind == "relative"
        unit = np.stack([sp.gripper_to_unit(raw[:, g], lo, hi, std.gripper.open, relative) for g in dims], 1)
        gripper = sp.binarize(unit) if std.gripper.output == "binary" else unit
        log.append(
            f"gripper {std.gripper.kind} [{lo:g}, {hi:g}] open at {std.gripper.open} -> {std.gripper.output} 1=open"
        )
    arm = raw[:, arm_dims]
    if std.action.lookahead:
        arm = arm[np.minimum(np.arange(len(arm)) + std.action.lookahead, len(arm) - 1)]
        log.append(f"arm action = {', '.join(std.action.keys)} {std.action.lookahead} step(s) later")
    arm, state = _convert_arm(arm, state, std.action, std.dataset, log)
    target = std.action.to or std.action.space
    kinds = list(ARM_KINDS[target]) if not target.startswith("joint") else ["joint_position"] * arm.shape[1]
    n_grip = 0 if gripper is None else gripper.shape[1]
    action = arm if gripper is None else np.concatenate([arm, gripper], axis=1)  # grippers last
    if gripper is not None:
        kinds += ["gripper_binary" if std.gripper.output == "binary" else "gripper_continuous"] * n_grip
    units = ("rad",) * arm.shape[1] if target.startswith("joint") else ("m",) * 3 + ("rad",) * 3
    if std.pad_state:
        if state.shape[1] > std.pad_state:
            raise StandardizeError(
                f"dataset {std.dataset}: state has {state.shape[1]} dims, pad_state is {std.pad_state}"
            )
        if state.shape[1] < std.pad_state:
            log.append(f"state zero-padded {state.shape[1]} -> {std.pad_state} dims")
            state = np.pad(state, ((0, 0), (0, std.pad_state - state.shape[1])))
    extra = sorted(set(ep.steps) - set(STANDARD_STEPS) - set(std.keep_steps))
    if extra:
        log.append(f"dropped source arrays {extra}")
    steps = {k: v for k, v in ep.steps.items() if k in STANDARD_STEPS or k in std.keep_steps}
    steps.update({"action": action.astype(np.float32), "observation.state": state.astype(np.float32)})
    cameras = {}
    for name, cam in ep.cameras.items():
        role = std.cameras.get(name, name if std.keep_unmapped_cameras else "drop")
        if role != "drop":
            cameras[role] = cam
    _check_roles(std, ep, cameras)
    names = tuple(f"arm[{i}]" for i in range(arm.shape[1])) + tuple(
        "gripper" if n_grip == 1 else f"gripper[{i}]" for i in range(n_grip)
    )
    embodiment = Embodiment(
        robot=std.robot or ep.embodiment.robot,
        action_names=names,
        action_units=units + ("1",) * n_grip,
        action_frame="joint" if target.startswith("joint") else "base",
        state_names=tuple(f"state[{i}]" for i in range(state.shape[1])),
        control_fps=ep.fps,
        action_kinds=tuple(kinds),
    )
    out = ep.replace(steps=steps, cameras=cameras, embodiment=embodiment)
    keep = np.ones(out.length, dtype=bool)
    if std.drop_zero_first_action and out.length > 1 and not np.any(raw[0]):
        keep[0] = False
        log.append("dropped an all-zero first action")
    if std.drop_noops:
        noop = sp.noop_steps(action, state) & keep
        if noop.any():
            keep &= ~noop
            log.append(f"dropped {int(noop.sum())} no-op steps")
    out = _keep_steps(out, keep)
    if std.fps and abs(std.fps - out.fps) > 1e-9:
        log.append(f"resampled {out.fps:g} -> {std.fps:g} fps")
        out = resample(out, std.fps)
    if std.image_size is not None:
        out = resized_cameras(out, *std.image_size, fit=std.image_fit)
    record = {
        "dataset": std.dataset,
        "conversions": log,
        "cameras": {k: v for k, v in std.cameras.items()},
        "state": list(std.state),
        "action": {"keys": list(std.action.keys), "space": std.action.space, "to": target},
        "original_robot": ep.embodiment.robot,
    }
    return out.with_meta(standardized=record)

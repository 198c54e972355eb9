"""Reading demonstrations from HDF5 files (h5py, one demo at a time) as datapipe episodes.

Three layouts, detected from a file's structure or declared:

- ``robomimic``: ``data/demo_N/{obs/<key>, next_obs/<key>, actions, states, rewards, dones}``,
  ``data`` attribute ``env_args`` (JSON: ``env_name``, ``env_kwargs.control_freq``), splits as
  ``mask/<split>`` (lists of demo names). Low-dimensional ``obs`` keys become the state (the
  ``state_keys`` asked for, else robomimic's usual end-effector and gripper keys, else all of
  them, sorted), image keys (uint8, ``(T, H, W, 3)``) become cameras without the ``_image``
  suffix; ``states`` is kept as ``sim.state``; ``next_obs`` duplicates ``obs`` and is not read.
- ``robosuite``: raw demonstrations (``data/demo_N/{states, actions}``, a ``model_file`` MJCF
  attribute per demo, ``env`` and ``env_info`` attributes on ``data``); the state is the
  simulator state. Human-in-the-loop files also carry per-step ``interventions``,
  ``user_acting`` and ``policy_acting``: they become ``is_intervention`` and ``control_mode``
  (0 policy, 1 human).
- ``aloha``: ALOHA / ACT episodes, one per file: ``/observations/qpos`` (state), ``/action``,
  ``/observations/images/<camera>`` (raw ``(T, H, W, 3)`` uint8, or JPEG bytes padded to one
  length with ``/compress_len`` when the file's ``compress`` attribute is set).

Actions keep their units; the embodiment's ``action_kinds`` say what they are (robosuite's
default OSC controller: end-effector position and rotation deltas and a binary gripper in
{-1, 1}; ALOHA: two 6-joint arms, each with a continuous gripper).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.records import CameraStream, Embodiment, Episode, Source, make_episode_id
from datapipe.storage import parse_json

LAYOUTS = ("robomimic", "robosuite", "aloha")
READER_VERSION = "1"
DEFAULT_FPS = {"robomimic": 20.0, "robosuite": 20.0, "aloha": 50.0}
ROBOMIMIC_STATE = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
OSC_KINDS = ("ee_position_delta",) * 3 + ("ee_rotation_delta",) * 3 + ("gripper_binary",)
ALOHA_KINDS = (("joint_position",) * 6 + ("gripper_continuous",)) * 2


class Hdf5ReadError(DatapipeError):
    """An HDF5 file that is not a readable demonstration file; names the file and the dataset."""


def _h5py():
    import h5py

    return h5py


def _attr_json(group: Any, name: str, file: str = "") -> dict[str, Any]:
    """A JSON attribute of an HDF5 group (``{}`` when absent); garbage is an error naming it."""
    raw = group.attrs.get(name)
    if raw is None:
        return {}
    where = f"{file}:{group.name} attribute {name!r}"
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    doc = parse_json(text, where, Hdf5ReadError)
    if not isinstance(doc, dict):
        raise Hdf5ReadError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    return doc


def detect_layout(f: Any, where: str) -> str:
    """``robomimic``, ``robosuite`` or ``aloha`` from the structure of open file ``f``."""
    if "observations" in f and "action" in f:
        return "aloha"
    data = f.get("data")
    if data is not None:
        demo = next((data[k] for k in data if k.startswith("demo")), None)
        if demo is not None and "obs" in demo:
            return "robomimic"
        if demo is not None and "states" in demo and "actions" in demo:
            return "robosuite"
    raise Hdf5ReadError(
        f"{where}: not a robomimic (data/demo_N/obs), robosuite (data/demo_N/states, actions) or ALOHA "
        f"(/observations, /action) file; top-level keys: {sorted(f.keys())}"
    )


def hdf5_files(path: str) -> list[Path]:
    """``path`` itself, or the ``.hdf5`` / ``.h5`` files of a folder (sorted)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.suffix in (".hdf5", ".h5") and f.is_file())
        if files:
            return files
        raise Hdf5ReadError(f"{path}: no .hdf5 or .h5 files")
    raise Hdf5ReadError(f"{path}: no such file or folder")


class Hdf5Demos:
    """The demonstrations of HDF5 files (a file or a folder of them).

    ``keys()`` lists ``<file>#<demo>`` keys (``<file>#/`` for a one-episode ALOHA file);
    ``read(key)`` opens the file and reads that demo only."""

    def __init__(
        self,
        path: str,
        layout: str = "auto",
        fps: float = 0.0,
        task: str = "",
        state_keys: tuple[str, ...] = (),
        camera_keys: tuple[str, ...] | None = None,
        split: str = "",
        robot: str = "",
    ):
        if layout not in ("auto", *LAYOUTS):
            raise Hdf5ReadError(f"layout must be auto or one of {LAYOUTS}, got {layout!r}")
        self.path, self.layout, self.fps, self.task = path, layout, fps, task
        self.state_keys, self.camera_keys, self.split, self.robot = state_keys, camera_keys, split, robot
        self.files = hdf5_files(path)

    def _open(self, file: Path) -> Any:
        try:
            return _h5py().File(file, "r")
        except OSError as exc:
            raise Hdf5ReadError(f"{file}: not a readable HDF5 file ({exc})") from None

    def keys(self) -> list[str]:
        out = []
        for file in self.files:
            with self._open(file) as f:
                layout = self.layout if self.layout != "auto" else detect_layout(f, str(file))
                if layout == "aloha":
                    out.append(f"{file}#/")
                    continue
                if "data" not in f:
                    raise Hdf5ReadError(f"{file}: no data group (layout {layout})")
                demos = sorted((k for k in f["data"] if k.startswith("demo")), key=_demo_number)
                if self.split:
                    mask = f.get(f"mask/{self.split}")
                    if mask is None:
                        splits = sorted(f["mask"]) if "mask" in f else []
                        raise Hdf5ReadError(f"{file}: no split mask/{self.split} (splits: {splits})")
                    wanted = {m.decode() if isinstance(m, bytes) else str(m) for m in mask[()]}
                    demos = [d for d in demos if d in wanted]
                out += [f"{file}#{d}" for d in demos]
        return out

    def read(self, key: str) -> Episode:
        file, _, demo = key.rpartition("#")
        with self._open(Path(file)) as f:
            layout = self.layout if self.layout != "auto" else detect_layout(f, file)
            if layout == "aloha":
                return self._aloha(f, file)
            if demo not in f.get("data", {}):
                raise Hdf5ReadError(f"{file}: no data/{demo}")
            return self._robomimic(f, file, demo) if layout == "robomimic" else self._robosuite(f, file, demo)

    # -- layouts ----------------------------------------------------------------------------------
    def _episode(self, file: str, span: str, layout: str, steps: dict[str, np.ndarray], **kw: Any) -> Episode:
        uri = f"hdf5://{Path(file).resolve()}"
        T = len(steps["action"])
        steps.setdefault("timestamp", np.arange(T, dtype=np.float64) / kw["fps"])
        steps.setdefault("is_intervention", np.zeros(T, dtype=bool))
        steps.setdefault("reward", np.zeros(T, dtype=np.float32))
        kinds = kw.pop("action_kinds", ())
        if len(kinds) != steps["action"].shape[1]:
            kinds = ()
        return Episode(
            episode_id=make_episode_id(uri, span, READER_VERSION),
            source=Source(kind="community", uri=uri, span=span),
            embodiment=Embodiment(
                robot=self.robot or kw.pop("robot", layout),
                action_names=tuple(f"action[{i}]" for i in range(steps["action"].shape[1])),
                state_names=kw.pop("state_names", ()),
                action_frame=kw.pop("action_frame", ""),
                control_fps=kw["fps"],
                action_kinds=kinds,
            ),
            task=(self.task or kw.pop("default_task", ""),),
            fps=kw["fps"],
            steps=steps,
            cameras=kw.get("cameras", {}),
            success=kw.get("success"),
            meta={"hdf5": {"file": str(file), "layout": layout, **kw.get("meta", {})}},
        )

    def _robomimic(self, f: Any, file: str, demo: str) -> Episode:
        g = f["data"][demo]
        env = _attr_json(f["data"], "env_args", file)
        fps = self.fps or float(env.get("env_kwargs", {}).get("control_freq") or DEFAULT_FPS["robomimic"])
        obs = g["obs"]
        low = [k for k in obs if obs[k].ndim == 2 and obs[k].dtype.kind == "f"]
        images = [k for k in obs if k.endswith("_image") or (obs[k].ndim == 4 and obs[k].dtype == np.uint8)]
        keys = list(self.state_keys) or [k for k in ROBOMIMIC_STATE if k in low] or sorted(low)
        missing = [k for k in keys if k not in obs]
        if missing:
            raise Hdf5ReadError(f"{file}: data/{demo}/obs has no {missing} (state_keys; it has {sorted(obs)})")
        actions = np.asarray(g["actions"][()], dtype=np.float32)
        steps: dict[str, np.ndarray] = {
            "action": actions,
            "observation.state": np.concatenate([np.asarray(obs[k][()], np.float32) for k in keys], axis=1),
        }
        if "states" in g:
            steps["sim.state"] = np.asarray(g["states"][()], dtype=np.float64)
        if "rewards" in g:
            steps["reward"] = np.asarray(g["rewards"][()], dtype=np.float32)
        cams = [k for k in images if self.camera_keys is None or k in self.camera_keys]
        cameras = {k.removesuffix("_image"): CameraStream.from_frames(_image_array(obs, k, file), fps) for k in cams}
        dones = np.asarray(g["dones"][()]) if "dones" in g else None
        names = tuple(f"{k}[{i}]" for k in keys for i in range(obs[k].shape[1]))
        return self._episode(
            file,
            f"demo={demo}",
            "robomimic",
            steps,
            fps=fps,
            cameras=cameras,
            success=bool(dones[-1]) if dones is not None and len(dones) else None,
            state_names=names,
            action_kinds=OSC_KINDS,
            action_frame="base",
            default_task=str(env.get("env_name", "")),
            meta={"env_args": env, "demo": demo, "state_keys": keys, **_model_file(g)},
        )

    def _robosuite(self, f: Any, file: str, demo: str) -> Episode:
        g, data = f["data"][demo], f["data"]
        env_info = _attr_json(data, "env_info", file)
        fps = self.fps or float(env_info.get("control_freq") or DEFAULT_FPS["robosuite"])
        states = np.asarray(g["states"][()], dtype=np.float64)
        actions = np.asarray(g["actions"][()], dtype=np.float32)
        if len(states) != len(actions):
            raise Hdf5ReadError(f"{file}: data/{demo}: {len(states)} states but {len(actions)} actions")
        steps: dict[str, np.ndarray] = {"action": actions, "observation.state": states.astype(np.float32)}
        steps["sim.state"] = states
        T = len(actions)
        if "interventions" in g:
            steps["is_intervention"] = _per_step_flag(g, "interventions", T, file)
        if "user_acting" in g or "policy_acting" in g:
            mode = _per_step_flag(g, "user_acting", T, file) if "user_acting" in g else None
            mode = mode if mode is not None else ~_per_step_flag(g, "policy_acting", T, file)
            steps["control_mode"] = mode.astype(np.int8)
        env = data.attrs.get("env", b"")
        env = env.decode() if isinstance(env, bytes) else str(env)
        return self._episode(
            file,
            f"demo={demo}",
            "robosuite",
            steps,
            fps=fps,
            action_kinds=OSC_KINDS,
            action_frame="base",
            default_task=env,
            meta={
                "env": env,
                "env_info": env_info,
                "demo": demo,
                "control_mode": "0 policy, 1 human",
                **_model_file(g),
            },
        )

    def _aloha(self, f: Any, file: str) -> Episode:
        fps = self.fps or DEFAULT_FPS["aloha"]
        qpos = np.asarray(f["observations/qpos"][()], dtype=np.float32)
        action = np.asarray(f["action"][()], dtype=np.float32)
        steps: dict[str, np.ndarray] = {"action": action, "observation.state": qpos}
        if "observations/qvel" in f:
            steps["observation.velocity"] = np.asarray(f["observations/qvel"][()], dtype=np.float32)
        cameras = {}
        group = f.get("observations/images")
        names = sorted(group) if group is not None else []
        compressed = bool(f.attrs.get("compress", False))
        for i, cam in enumerate(names):
            if self.camera_keys is not None and cam not in self.camera_keys:
                continue
            raw = group[cam][()]
            frames = _jpeg_frames(
                raw, f["compress_len"][i] if compressed else None, f"{file}:/observations/images/{cam}"
            )
            cameras[cam] = CameraStream.from_frames(frames, fps)
        return self._episode(
            file,
            "episode",
            "aloha",
            steps,
            fps=fps,
            cameras=cameras,
            action_kinds=ALOHA_KINDS,
            action_frame="joint",
            robot="aloha",
            meta={"sim": bool(f.attrs.get("sim", False)), "compressed_images": compressed},
        )


def _per_step_flag(group: Any, name: str, T: int, file: str) -> np.ndarray:
    """A per-step flag of ``T`` steps: ``(T,)``, or one column per arm (``(T, arms)``, as
    robosuite's two-arm human-in-the-loop demos record it, or ``(arms, T)``), true where any arm's
    is. Never flattened along time (two arms' flags are not twice the steps)."""
    flag = np.asarray(group[name][()]).astype(bool)
    if flag.ndim == 1 and len(flag) == T:
        return flag
    if flag.ndim == 2 and flag.shape[0] == T:
        return flag.any(axis=1)
    if flag.ndim == 2 and flag.shape[1] == T:
        return flag.any(axis=0)
    raise Hdf5ReadError(f"{file}:{group.name}/{name}: shape {flag.shape} is not {T} steps (or {T} x arms)")


def _image_array(obs: Any, key: str, file: str) -> np.ndarray:
    """A camera's ``(T, H, W, 3)`` uint8 frames; an array that cannot be read or is not frames is
    an error naming it (the episode is quarantined, never left without that camera)."""
    where = f"{file}:{obs.name}/{key}"
    try:
        frames = obs[key][()]
    except (OSError, ValueError) as exc:  # a damaged chunk or filter
        raise Hdf5ReadError(f"{where}: the image data cannot be read ({exc})") from None
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise Hdf5ReadError(f"{where}: expected (T, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    return frames


def _demo_number(name: str) -> tuple[int, str]:
    tail = name.rsplit("_", 1)[-1]
    return (int(tail), name) if tail.isdigit() else (1 << 30, name)


def _model_file(group: Any) -> dict[str, Any]:
    xml = group.attrs.get("model_file")
    if xml is None:
        return {}
    return {"model_file": xml.decode() if isinstance(xml, bytes) else str(xml)}


def _jpeg_frames(raw: np.ndarray, lengths: np.ndarray | None, where: str) -> np.ndarray:
    """RGB frames of an ALOHA camera: raw ``(T, H, W, 3)`` uint8, or padded JPEG bytes ``(T, N)``
    with each frame's byte length."""
    if lengths is None:
        if raw.ndim != 4 or raw.dtype != np.uint8:
            raise Hdf5ReadError(f"{where}: expected (T, H, W, 3) uint8 frames, got {raw.shape} {raw.dtype}")
        return raw
    import cv2

    frames = []
    for t, row in enumerate(raw):
        img = cv2.imdecode(np.asarray(row[: int(lengths[t])], dtype=np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise Hdf5ReadError(f"{where}: frame {t} is not a JPEG")
        frames.append(img)  # ALOHA encodes its RGB arrays with cv2.imencode as they are: no channel swap
    return np.stack(frames)

"""Community dataset fixtures written with each format's own writer, in each format's documented
layout: h5py for robomimic, raw robosuite (with human-in-the-loop arrays) and ALOHA / ACT files;
the ``tfrecord`` package's writer for RLDS TFRecords described by a TFDS ``features.json``.
Each returns the values it wrote, for tests to compare with what datapipe reads."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np


def smooth_frames(rng: np.random.Generator, length: int, height: int, width: int) -> np.ndarray:
    """RGB frames that survive lossy coding: a moving gradient and a bright square."""
    y, x = np.mgrid[0:height, 0:width]
    base = rng.integers(30, 200, 3)
    out = np.empty((length, height, width, 3), dtype=np.uint8)
    for t in range(length):
        out[t] = np.stack([(x * 5 + t * 7 + base[0]) % 256, (y * 5 + base[1]) % 256, np.full_like(x, base[2])], -1)
        c = (t * 2) % max(1, width - 6)
        out[t, 2:8, c : c + 6] = 255
    return out


def write_robomimic(
    path: Path, lengths=(9, 12, 7), seed: int = 0, image: tuple[int, int] = (16, 16), wrist: bool = False
) -> dict:
    """robomimic's layout: data/demo_N/{obs, next_obs, actions, states, rewards, dones}, env_args,
    mask/{train, valid}; ``wrist`` adds the eye-in-hand camera (``robot0_eye_in_hand_image``)."""
    rng = np.random.default_rng(seed)
    written: dict = {"demos": {}}
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        env_args = {"env_name": "Lift", "type": 1, "env_kwargs": {"control_freq": 20, "robots": ["Panda"]}}
        data.attrs["env_args"] = json.dumps(env_args)
        data.attrs["total"] = int(sum(lengths))
        for i, T in enumerate(lengths):
            g = data.create_group(f"demo_{i}")
            g.attrs["num_samples"] = T
            g.attrs["model_file"] = f"<mujoco model='lift_{i}'/>"
            obs = {
                "robot0_eef_pos": rng.normal(size=(T, 3)),
                "robot0_eef_quat": rng.normal(size=(T, 4)),
                "robot0_gripper_qpos": rng.normal(size=(T, 2)),
                "object": rng.normal(size=(T, 10)),
                "agentview_image": smooth_frames(rng, T, *image),
                **({"robot0_eye_in_hand_image": smooth_frames(rng, T, *image)} if wrist else {}),
            }
            for key, value in obs.items():
                g.create_dataset(f"obs/{key}", data=value)
                g.create_dataset(f"next_obs/{key}", data=np.concatenate([value[1:], value[-1:]]))
            actions = np.clip(rng.normal(size=(T, 7)), -1, 1)
            actions[:, 6] = np.where(np.arange(T) < T // 2, -1.0, 1.0)
            g.create_dataset("actions", data=actions)
            g.create_dataset("states", data=rng.normal(size=(T, 32)))
            g.create_dataset("rewards", data=(np.arange(T) == T - 1).astype(np.float64))
            g.create_dataset("dones", data=(np.arange(T) == T - 1).astype(np.int64))
            written["demos"][f"demo_{i}"] = {**obs, "actions": actions}
        f.create_dataset("mask/train", data=np.array([b"demo_0", b"demo_2"]))
        f.create_dataset("mask/valid", data=np.array([b"demo_1"]))
    written["env_args"] = env_args
    return written


def write_robosuite(path: Path, lengths=(10, 8), seed: int = 1, hitl: bool = True) -> dict:
    """Raw robosuite demonstrations (collect_human_demonstrations): data/demo_N/{states, actions},
    model_file per demo, env and env_info on data; human-in-the-loop files add interventions,
    user_acting and policy_acting."""
    rng = np.random.default_rng(seed)
    written: dict = {"demos": {}}
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["date"], data.attrs["time"] = "11-25-2026", "12:00:00"
        data.attrs["repository_version"] = "1.5.1"
        data.attrs["env"] = "NutAssemblySquare"
        data.attrs["env_info"] = json.dumps({"env_name": "NutAssemblySquare", "control_freq": 20})
        for i, T in enumerate(lengths):
            g = data.create_group(f"demo_{i + 1}")
            g.attrs["model_file"] = f"<mujoco model='square_{i}'><worldbody/></mujoco>"
            states, actions = rng.normal(size=(T, 40)), np.clip(rng.normal(size=(T, 7)), -1, 1)
            g.create_dataset("states", data=states)
            g.create_dataset("actions", data=actions)
            demo = {"states": states, "actions": actions}
            if hitl:
                user = np.zeros(T, dtype=bool)
                user[T // 3 : T // 3 + 3] = True
                g.create_dataset("interventions", data=user.astype(np.int64))
                g.create_dataset("user_acting", data=user.astype(np.int64))
                g.create_dataset("policy_acting", data=(~user).astype(np.int64))
                demo["user"] = user
            written["demos"][f"demo_{i + 1}"] = demo
    return written


def write_aloha(
    folder: Path,
    episodes: int = 2,
    length: int = 10,
    seed: int = 2,
    compress: bool = False,
    cameras: tuple[str, ...] = ("cam_high", "cam_left_wrist"),
) -> dict:
    """ALOHA / ACT episodes, one file each: /observations/{qpos, qvel, images/<cam>}, /action; with
    ``compress`` the images are JPEG bytes padded to one length, with /compress_len."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for e in range(episodes):
        qpos, action = rng.normal(size=(length, 14)), rng.normal(size=(length, 14))
        cams = {c: smooth_frames(rng, length, 24, 32) for c in cameras}
        with h5py.File(folder / f"episode_{e}.hdf5", "w") as f:
            f.attrs["sim"] = False
            f.attrs["compress"] = compress
            f.create_dataset("observations/qpos", data=qpos)
            f.create_dataset("observations/qvel", data=np.zeros_like(qpos))
            f.create_dataset("action", data=action)
            if compress:
                encoded = {
                    c: [cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 95])[1] for im in v]
                    for c, v in cams.items()
                }
                pad = max(len(b) for v in encoded.values() for b in v)
                lens = np.array([[len(b) for b in encoded[c]] for c in sorted(cams)])
                for c, frames in encoded.items():
                    padded = np.zeros((length, pad), dtype=np.uint8)
                    for t, b in enumerate(frames):
                        padded[t, : len(b)] = b.reshape(-1)
                    f.create_dataset(f"observations/images/{c}", data=padded)
                f.create_dataset("compress_len", data=lens)
            else:
                for c, frames in cams.items():
                    f.create_dataset(f"observations/images/{c}", data=frames)
        written[f"episode_{e}.hdf5"] = {"qpos": qpos, "action": action, **cams}
    return written


def _tensor(shape: tuple[int, ...], dtype: str = "float32") -> dict:
    cls = (
        "tensorflow_datasets.core.features.tensor_feature.Tensor"
        if shape
        else ("tensorflow_datasets.core.features.scalar.Scalar")
    )
    return {
        "pythonClassName": cls,
        "tensor": {"shape": {"dimensions": [str(d) for d in shape]}, "dtype": dtype, "encoding": "none"},
    }


def _dict(features: dict) -> dict:
    return {
        "pythonClassName": "tensorflow_datasets.core.features.features_dict.FeaturesDict",
        "featuresDict": {"features": features},
    }


def write_rlds(
    folder: Path, lengths=(6, 9, 5), seed: int = 3, image: tuple[int, int] = (16, 16), wrist: bool = False
) -> dict:
    """An RLDS dataset as TFDS writes it: features.json (steps as a Dataset of observation image
    and state, action, reward, is_first / is_last / is_terminal, language_instruction; episode
    metadata), dataset_info.json, and TFRecords of one tf.train.Example per episode; ``wrist``
    adds a second camera, ``wrist_image``."""
    from tfrecord.writer import TFRecordWriter

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    image_spec = {
        "pythonClassName": "tensorflow_datasets.core.features.image_feature.Image",
        "image": {
            "shape": {"dimensions": [str(image[0]), str(image[1]), "3"]},
            "dtype": "uint8",
            "encodingFormat": "png",
        },
    }
    text = {"pythonClassName": "tensorflow_datasets.core.features.text_feature.Text", "text": {}}
    step = _dict(
        {
            "observation": _dict(
                {"image": image_spec, **({"wrist_image": image_spec} if wrist else {}), "state": _tensor((8,))}
            ),
            "action": _tensor((7,)),
            "reward": _tensor(()),
            "discount": _tensor(()),
            "is_first": _tensor((), "bool"),
            "is_last": _tensor((), "bool"),
            "is_terminal": _tensor((), "bool"),
            "language_instruction": text,
        }
    )
    features = _dict(
        {
            "steps": {
                "pythonClassName": "tensorflow_datasets.core.features.dataset_feature.Dataset",
                "sequence": {"feature": step, "length": "-1"},
            },
            "episode_metadata": _dict({"file_path": text}),
        }
    )
    (folder / "features.json").write_text(json.dumps(features, indent=2))
    info = {"name": "toy_rlds", "version": "1.0.0", "splits": [{"name": "train", "shardLengths": [str(len(lengths))]}]}
    (folder / "dataset_info.json").write_text(json.dumps(info, indent=2))
    written = []
    writer = TFRecordWriter(str(folder / "toy_rlds-train.tfrecord-00000-of-00001"))
    for e, T in enumerate(lengths):
        frames = smooth_frames(rng, T, *image)
        state, action = rng.normal(size=(T, 8)).astype(np.float32), rng.normal(size=(T, 7)).astype(np.float32)
        instruction = f"put the block in bowl {e}"
        datum = {
            "steps/observation/image": ([cv2.imencode(".png", f[:, :, ::-1])[1].tobytes() for f in frames], "byte"),
            **(
                {"steps/observation/wrist_image": ([cv2.imencode(".png", f)[1].tobytes() for f in frames], "byte")}
                if wrist
                else {}
            ),
            "steps/observation/state": (state.reshape(-1).tolist(), "float"),
            "steps/action": (action.reshape(-1).tolist(), "float"),
            "steps/reward": ([0.0] * (T - 1) + [1.0], "float"),
            "steps/discount": ([1.0] * T, "float"),
            "steps/is_first": ([1] + [0] * (T - 1), "int"),
            "steps/is_last": ([0] * (T - 1) + [1], "int"),
            "steps/is_terminal": ([0] * (T - 1) + [1], "int"),
            "steps/language_instruction": ([instruction.encode()] * T, "byte"),
            "episode_metadata/file_path": ([f"/data/raw/episode_{e}.npy".encode()], "byte"),
        }
        writer.write(datum)
        written.append({"frames": frames, "state": state, "action": action, "instruction": instruction})
    writer.close()
    return {"episodes": written}


LEROBOT_INPUT = {
    "fps": 10,
    "lengths": [10, 14],
    "dim": 7,
    "tasks": ["pick the cube"],
    "cameras": {"top": [32, 32], "wrist": [32, 32]},
}
"""The LeRobot input of ``community_mix.yaml``: a scene camera and a wrist camera, as its config maps."""


REPO = Path(__file__).resolve().parents[1]
LEROBOT_PY = REPO / ".venv-lerobot" / "bin" / "python"
LEROBOT_V21 = REPO / ".lerobot-v21"  # lerobot 0.3.2 (writes v2.1), used with the venv's dependencies
LEROBOT_WRITER = REPO / "tests" / "lerobot_venv" / "write_fixture.py"


def run_lerobot_writer(root: Path, spec: dict, version: str = "v3.0") -> Path:
    """A LeRobot dataset at ``root`` written by LeRobot's own writer (``version``: v3.0 by LeRobot
    0.4.4 in ``.venv-lerobot``, v2.1 by 0.3.2 beside it; ``make lerobot-venv``) from ``spec`` (see
    ``tests/lerobot_venv/write_fixture.py``); returns the ``.npz`` of the values written.
    FileNotFoundError when the writer is not installed, RuntimeError when it fails."""
    import subprocess

    if not LEROBOT_PY.exists():
        raise FileNotFoundError(f"{LEROBOT_PY}: the LeRobot venv is missing (run `make lerobot-venv`)")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root.parent)}
    if version == "v2.1":
        if not LEROBOT_V21.exists():
            raise FileNotFoundError(f"{LEROBOT_V21}: lerobot 0.3.2 (v2.1 writer) is missing (run `make lerobot-venv`)")
        env["PYTHONPATH"] = str(LEROBOT_V21)
    out = root.parent / f"{root.name}.npz"
    cmd = [str(LEROBOT_PY), str(LEROBOT_WRITER), str(root), json.dumps(spec), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"LeRobot's writer failed on {root}:\n{proc.stderr[-3000:]}")
    return out


def write_lerobot_input(root: Path) -> Path:
    """The LeRobot v3.0 input of ``community_mix.yaml``, by LeRobot's own writer."""
    return run_lerobot_writer(root, LEROBOT_INPUT)


def write_community_inputs(folder: Path, lerobot_writer=write_lerobot_input) -> None:
    """The inputs of ``workflows/community_mix.yaml`` under ``folder``: a robomimic file, an RLDS
    folder and (``lerobot_writer(root)``, LeRobot's own writer; None: none) a LeRobot v3.0
    dataset, each with the scene and wrist cameras their configs map."""
    folder.mkdir(parents=True, exist_ok=True)
    write_robomimic(folder / "robomimic_lift.hdf5", image=(32, 32), wrist=True)
    write_rlds(folder / "bridge_rlds", image=(32, 32), wrist=True)
    if lerobot_writer is not None:
        lerobot_writer(folder / "lerobot_ee")


if __name__ == "__main__":
    import sys

    where = Path(sys.argv[1] if len(sys.argv) > 1 else "out/community_inputs")
    write_community_inputs(where)
    print(f"wrote the robomimic, RLDS and LeRobot inputs of workflows/community_mix.yaml under {where}")

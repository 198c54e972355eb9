"""source.hdf5 (robomimic, raw robosuite with human-in-the-loop arrays, ALOHA) and source.rlds
(TFDS folders without TensorFlow) on files written by h5py and the tfrecord package's writer in
each format's documented layout."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.hdf5 import Hdf5Demos, Hdf5ReadError
from datapipe.formats.rlds import RldsDataset, RldsReadError
from tests.community_fixtures import write_aloha, write_rlds, write_robomimic, write_robosuite
from tests.conftest import REPO
from tests.helpers import read_sink


def test_robomimic_file_reads_demos_splits_and_cameras(tmp_path):
    written = write_robomimic(tmp_path / "lift.hdf5")
    demos = Hdf5Demos(str(tmp_path / "lift.hdf5"))
    assert demos.keys() == [f"{tmp_path / 'lift.hdf5'}#demo_{i}" for i in range(3)]
    ep = demos.read(demos.keys()[1])
    w = written["demos"]["demo_1"]
    state = np.concatenate([w["robot0_eef_pos"], w["robot0_eef_quat"], w["robot0_gripper_qpos"]], 1)
    assert np.allclose(ep.steps["observation.state"], state, atol=1e-6)
    assert np.allclose(ep.steps["action"], w["actions"], atol=1e-6)
    assert ep.fps == 20.0 and ep.task == ("Lift",) and ep.success is True
    assert ep.steps["sim.state"].shape == (12, 32) and ep.embodiment.action_kinds[-1] == "gripper_binary"
    frames = ep.cameras["agentview"].frames()
    assert frames.shape == (12, 16, 16, 3) and np.abs(frames.astype(int) - w["agentview_image"]).mean() < 12
    assert ep.meta["hdf5"]["model_file"] == "<mujoco model='lift_1'/>"
    valid = Hdf5Demos(str(tmp_path / "lift.hdf5"), split="valid", state_keys=("object",), camera_keys=())
    (key,) = valid.keys()
    ep = valid.read(key)
    assert key.endswith("#demo_1") and ep.cameras == {}
    assert np.allclose(ep.steps["observation.state"], w["object"], atol=1e-6)
    with pytest.raises(Hdf5ReadError, match="no split mask/test"):
        Hdf5Demos(str(tmp_path / "lift.hdf5"), split="test").keys()


def test_raw_robosuite_with_human_interventions(tmp_path):
    written = write_robosuite(tmp_path / "demo.hdf5")
    demos = Hdf5Demos(str(tmp_path / "demo.hdf5"))
    assert [k.rsplit("#", 1)[1] for k in demos.keys()] == ["demo_1", "demo_2"]
    ep = demos.read(demos.keys()[0])
    w = written["demos"]["demo_1"]
    assert ep.meta["hdf5"]["layout"] == "robosuite" and ep.task == ("NutAssemblySquare",)
    assert np.array_equal(ep.steps["sim.state"], w["states"])
    assert np.array_equal(ep.steps["is_intervention"], w["user"])
    assert np.array_equal(ep.steps["control_mode"], w["user"].astype(np.int8))
    assert "square_0" in ep.meta["hdf5"]["model_file"]


@pytest.mark.parametrize("compress", [False, True])
def test_aloha_episodes_raw_and_jpeg_compressed(tmp_path, compress):
    written = write_aloha(tmp_path / "aloha", compress=compress)
    demos = Hdf5Demos(str(tmp_path / "aloha"), task="transfer the cube")
    assert len(demos.keys()) == 2
    ep = demos.read(demos.keys()[1])
    w = written["episode_1.hdf5"]
    assert np.allclose(ep.steps["observation.state"], w["qpos"], atol=1e-6) and ep.fps == 50.0
    assert ep.embodiment.action_kinds[6] == "gripper_continuous" and ep.task == ("transfer the cube",)
    for cam in ("cam_high", "cam_left_wrist"):
        frames = ep.cameras[cam].frames()
        assert frames.shape == w[cam].shape and np.abs(frames.astype(int) - w[cam]).mean() < 12


def test_hdf5_errors_name_the_file(tmp_path):
    (tmp_path / "junk.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(Hdf5ReadError, match="junk.hdf5: not a readable HDF5 file"):
        Hdf5Demos(str(tmp_path / "junk.hdf5")).keys()
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(Hdf5ReadError, match="other.h5: not a robomimic"):
        Hdf5Demos(str(tmp_path / "other.h5")).keys()


def test_rlds_reads_episodes_without_tensorflow(tmp_path):
    written = write_rlds(tmp_path / "toy_rlds" / "1.0.0")
    ds = RldsDataset(str(tmp_path / "toy_rlds" / "1.0.0"), fps=5.0)
    eps = [ep for _, ep in ds.episodes(ds.files[0])]
    assert len(eps) == 3
    for ep, w in zip(eps, written["episodes"]):
        assert np.array_equal(ep.steps["observation.state"], w["state"])
        assert np.array_equal(ep.steps["action"], w["action"])
        frames = ep.cameras["image"].frames()  # PNG in the record, H.264 in the episode
        assert frames.shape == w["frames"].shape and np.abs(frames.astype(int) - w["frames"]).mean() < 12
        assert ep.task == (w["instruction"],) and ep.success is True and ep.fps == 5.0
        assert ep.steps["reward"][-1] == 1.0 and ep.meta["rlds"]["episode_metadata"]["file_path"].endswith(".npy")
    with pytest.raises(RldsReadError, match="no split 'val'"):
        RldsDataset(str(tmp_path / "toy_rlds" / "1.0.0"), split="val")


def test_community_sources_on_ray(ray_session, tmp_path):
    write_robomimic(tmp_path / "lift.hdf5")
    write_rlds(tmp_path / "rlds")
    (tmp_path / "rlds" / "toy_rlds-train.tfrecord-00001-of-00002").write_bytes(b"\x00" * 40)  # damaged
    doc = {
        "name": "community",
        "stages": [
            {"id": "h5", "uses": "source.hdf5", "with": {"path": str(tmp_path / "lift.hdf5"), "demos_per_shard": 2}},
            {"id": "rl", "uses": "source.rlds", "with": {"path": str(tmp_path / "rlds")}, "max_error_rate": 0.6},
            {"id": "out", "uses": "sink.parquet", "needs": ["h5", "rl"], "with": {"path": str(tmp_path / "pq")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "community.yaml"), out=str(tmp_path / "run"), progress=False)
    assert result.ok, result.error
    eps = read_sink(tmp_path / "pq")
    assert sorted(e.source.uri.split(":")[0] for e in eps) == ["hdf5"] * 3 + ["rlds"] * 3
    assert result.counts("rl")["failed"] == 1


def _records(path):
    """(offset, length) of each TFRecord record, from its framing."""
    import struct

    data, out, at = path.read_bytes(), [], 0
    while at < len(data):
        (n,) = struct.unpack("<Q", data[at : at + 8])
        out.append((at, n))
        at += 16 + n
    return out


def test_rlds_record_checksums_are_verified_and_an_empty_file_is_named(tmp_path):
    """A flipped bit inside a record's floats still parses as a protobuf: only its CRC tells."""
    folder = tmp_path / "toy_rlds" / "1.0.0"
    write_rlds(folder)
    (file,) = RldsDataset(str(folder)).files
    offset, n = _records(file)[1]
    data = bytearray(file.read_bytes())
    data[offset + 12 + n - 6] ^= 0x01
    file.write_bytes(bytes(data))
    ds = RldsDataset(str(folder))
    read = []
    with pytest.raises(RldsReadError, match=r"record 1 at byte \d+: the data's CRC does not match"):
        for _, ep in ds.episodes(file):
            read.append(ep)
    assert len(read) == 1  # the record before it is kept
    file.write_bytes(b"")
    with pytest.raises(RldsReadError, match="holds no records"):
        list(RldsDataset(str(folder)).episodes(file))
    doc = {
        "name": "rlds",
        "stages": [
            {"id": "src", "uses": "source.rlds", "with": {"path": str(folder)}},
            {"id": "out", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp_path / "out")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "rlds.yaml"), str(tmp_path / "run"), runner="local", progress=False)
    assert not result.ok and result.counts("src")["failed"] == 1  # a named failure, not 0 episodes read


def test_hdf5_images_that_cannot_decode_and_garbage_env_args_are_errors(tmp_path):
    import h5py

    path = tmp_path / "lift.hdf5"
    write_robomimic(path)
    with h5py.File(path, "a") as f:
        del f["data/demo_1/obs/agentview_image"]
        f["data/demo_1/obs/agentview_image"] = np.zeros((12, 16, 16), np.float32)  # not frames
    demos = Hdf5Demos(str(path))
    assert demos.read(demos.keys()[0]).cameras  # the intact demo keeps its camera
    with pytest.raises(Hdf5ReadError, match=r"demo_1/obs/agentview_image: expected \(T, H, W, 3\) uint8"):
        demos.read(demos.keys()[1])
    with h5py.File(path, "a") as f:
        f["data"].attrs["env_args"] = "{not json"
    with pytest.raises(Hdf5ReadError, match="attribute 'env_args': not valid JSON"):
        Hdf5Demos(str(path)).read(demos.keys()[0])


@pytest.mark.parametrize("layout", ["steps_by_arm", "arm_by_steps"])
def test_two_arm_interventions_are_per_step_not_concatenated(tmp_path, layout):
    """robosuite's two-arm human-in-the-loop demos (handover/panda_panda) record one flag per arm."""
    import h5py

    path = tmp_path / "two_arm.hdf5"
    write_robosuite(path, lengths=(10,))
    arms = np.zeros((10, 2), bool)
    arms[3:5, 0] = True  # the left arm's operator
    arms[6:8, 1] = True  # the right arm's
    with h5py.File(path, "a") as f:
        g = f["data/demo_1"]
        for name, value in (("interventions", arms), ("user_acting", arms), ("policy_acting", ~arms)):
            del g[name]
            g[name] = (value if layout == "steps_by_arm" else value.T).astype(np.int64)
    demos = Hdf5Demos(str(path))
    ep = demos.read(demos.keys()[0])
    want = arms.any(axis=1)
    assert ep.length == 10 and np.array_equal(ep.steps["is_intervention"], want)
    assert np.array_equal(ep.steps["control_mode"], want.astype(np.int8))


HANDOVER = REPO / "data" / "robosuite-1.4.1" / "assets" / "demonstrations" / "handover" / "panda_panda" / "demo.hdf5"


@pytest.mark.skipif(not HANDOVER.exists(), reason="robosuite's demos are not fetched: run `make robosuite-demos`")
def test_robosuites_two_arm_handover_demos_ingest_with_their_defaults(tmp_path):
    doc = {
        "name": "handover",
        "stages": [
            {"id": "src", "uses": "source.hdf5", "with": {"path": str(HANDOVER)}},
            {"id": "out", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp_path / "out")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "handover.yaml"), str(tmp_path / "run"), runner="local", progress=False)
    assert result.ok, result.error
    eps = read_sink(tmp_path / "out")
    assert len(eps) == result.counts("src")["in"] >= 3 and result.counts("src")["failed"] == 0
    for ep in eps:
        assert ep.steps["control_mode"].shape == ep.steps["is_intervention"].shape == (ep.length,)
        assert ep.steps["action"].shape == (ep.length, 14)  # both arms' OSC commands side by side
    assert all(ep.steps["control_mode"].any() for ep in eps)  # user_acting: one column per operator

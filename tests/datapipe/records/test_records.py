"""Episode records: validation, immutability, lossless Arrow round trip (cameras included)."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datapipe.records import CameraStream, Episode, RecordError, make_episode_id
from datapipe.records.arrow import (
    episode_to_row,
    episodes_to_table,
    row_to_episode,
    table_to_episodes,
)
from datapipe.records.synthetic import synthetic_episode
from datapipe.schemas.episode import (
    EPISODE_SCHEMA,
    EPISODE_SCHEMA_VERSION,
    SchemaVersionError,
    check_schema_version,
)


@pytest.fixture(scope="module")
def episode() -> Episode:
    ep = synthetic_episode(3, 5, length=12, cameras=("front", "wrist"), image_size=(33, 48))
    extra = np.random.default_rng(0).normal(size=(12, 21, 3)).astype(np.float64)
    return ep.with_steps(**{"hand.keypoints": extra, "sim.qpos": np.arange(12 * 9, dtype=np.int32).reshape(12, 9)})


def test_arrow_round_trip_is_lossless(episode):
    table = episodes_to_table([episode])
    assert table.schema.equals(EPISODE_SCHEMA)
    back = table_to_episodes(table)[0]
    assert back.equals(episode)
    assert back.steps["hand.keypoints"].dtype == np.float64
    assert back.steps["sim.qpos"].dtype == np.int32
    assert back.cameras["front"].data == episode.cameras["front"].data


def test_round_trip_through_parquet_file(episode):
    buf = io.BytesIO()
    pq.write_table(episodes_to_table([episode, episode.replace(episode_id="other")]), buf)
    table = pq.read_table(io.BytesIO(buf.getvalue()))
    check_schema_version(table.schema, "memory")
    eps = table_to_episodes(table)
    assert [e.episode_id for e in eps] == [episode.episode_id, "other"]
    assert eps[0].equals(episode)


def test_camera_frames_decode_within_codec_error():
    rng = np.random.default_rng(1)
    from datapipe.records.synthetic import synthetic_frames

    frames = synthetic_frames(rng, 10, 31, 45)  # odd sizes: padded for H.264, cropped back
    for encoding, tol in (("mp4", 12.0), ("jpeg", 6.0)):
        cam = CameraStream.from_frames(frames, fps=10, encoding=encoding)
        out = cam.frames()
        assert out.shape == frames.shape and out.dtype == np.uint8
        assert np.abs(out.astype(float) - frames).mean() < tol, encoding
        assert row_to_episode(episode_to_row(_with_camera(cam))).cameras["c"].frames().tobytes() == out.tobytes()


def _with_camera(cam: CameraStream) -> Episode:
    ep = synthetic_episode(0, 0, length=cam.n_frames)
    return ep.replace(cameras={"c": cam})


def test_episodes_are_immutable(episode):
    with pytest.raises(ValueError):
        episode.steps["action"][0, 0] = 1.0
    with pytest.raises(TypeError):
        episode.meta["x"] = 1  # type: ignore[index]
    changed = episode.with_meta(quality=0.1)
    assert changed.meta["quality"] == 0.1 and episode.meta["quality"] != 0.1


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda e: e.with_steps(action=e.steps["action"][:-1]), "steps['action'] has 11 steps"),
        (lambda e: e.with_steps(timestamp=e.steps["timestamp"].astype(np.float32)), "timestamp"),
        (lambda e: e.with_steps(is_intervention=e.steps["is_intervention"].astype(np.int8)), "is_intervention"),
        (lambda e: e.replace(steps={k: v for k, v in e.steps.items() if k != "reward"}), "reward"),
        (lambda e: e.replace(fps=0.0), "fps"),
        (lambda e: e.replace(task=()), "task"),
        (lambda e: e.with_meta(bad=object()), "meta"),
        (
            lambda e: e.replace(
                cameras={"front": CameraStream.from_frames(np.zeros((3, 8, 8, 3), np.uint8), 10, "jpeg")}
            ),
            "cameras['front'] has 3 frames",
        ),
        (lambda e: e.with_steps(action=np.zeros((12, 3), np.float32)), "action_names has 7"),
    ],
)
def test_validation_names_the_field(episode, change, message):
    with pytest.raises(RecordError, match=message.replace("[", r"\[").replace("]", r"\]")):
        change(episode)


def test_episode_ids_are_deterministic():
    a = make_episode_id("file:///x.mp4", "t=0-10", "1")
    assert a == make_episode_id("file:///x.mp4", "t=0-10", "1")
    assert a != make_episode_id("file:///x.mp4", "t=0-10", "2")
    assert a != make_episode_id("file:///x.mp4", "t=10-20", "1")


def test_reader_refuses_unknown_schema_major_version():
    schema = EPISODE_SCHEMA.with_metadata({b"datapipe.episode_schema_version": b"99.0"})
    with pytest.raises(SchemaVersionError, match="99.0"):
        check_schema_version(schema, "x.parquet")
    check_schema_version(EPISODE_SCHEMA, "ok")
    major = EPISODE_SCHEMA_VERSION.split(".")[0]
    newer_minor = EPISODE_SCHEMA.with_metadata({b"datapipe.episode_schema_version": f"{major}.99".encode()})
    check_schema_version(newer_minor, "a later minor version reads")


def test_malformed_row_raises_record_error(episode):
    row = episode_to_row(episode)
    del row["embodiment"]
    with pytest.raises(RecordError, match="embodiment"):
        row_to_episode(row)
    table = pa.Table.from_pylist([episode_to_row(episode)], schema=EPISODE_SCHEMA)  # the intact row round-trips
    back = row_to_episode(table.to_pylist()[0])
    assert back.episode_id == episode.episode_id and back.length == episode.length
    np.testing.assert_array_equal(back.steps["action"], episode.steps["action"])


def test_every_reader_of_episode_parquet_checks_the_schema_version(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datapipe.engine.rundir import INPUT_KEY_COLUMN, read_part
    from datapipe.formats.staging import staged_episodes
    from datapipe.records.arrow import episodes_to_table
    from datapipe.schemas.episode import SCHEMA_VERSION_KEY
    from datapipe.storage import resolve

    table = episodes_to_table([synthetic_episode(0, 0, length=5)])
    table = table.append_column(INPUT_KEY_COLUMN, pa.array(["k"]))
    future = table.replace_schema_metadata({SCHEMA_VERSION_KEY: b"99.0"})
    pq.write_table(future, tmp_path / "part.parquet")
    with pytest.raises(SchemaVersionError, match="99.0"):
        read_part(str(tmp_path / "part.parquet"), resolve(tmp_path).fs)
    (tmp_path / "out" / ".datapipe-staging").mkdir(parents=True)
    pq.write_table(future.drop_columns([INPUT_KEY_COLUMN]), tmp_path / "out" / ".datapipe-staging" / "p.parquet")
    with pytest.raises(SchemaVersionError, match="99.0"):
        list(staged_episodes(str(tmp_path / "out"), [{"staged": "p.parquet"}]))
    pq.write_table(table, tmp_path / "ok.parquet")  # the current version reads
    assert read_part(str(tmp_path / "ok.parquet"), resolve(tmp_path).fs).num_rows == 1

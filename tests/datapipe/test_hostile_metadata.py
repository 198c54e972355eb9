"""Hostile metadata is a named error (issue 24, item 9): deeply nested JSON, path templates that
would allocate gigabytes, a damaged parquet table; every reader and command names the file and
exits 2, without a traceback."""

from __future__ import annotations

import json
import shutil

import pytest

from datapipe.cli import main
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.errors import DatapipeError
from datapipe.formats.lerobot.reader import LeRobotReader
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.training.stream import ShardStream
from tests.damage import make_shards

NESTED = "[" * 100_000 + "]" * 100_000


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    shards = make_shards(root / "shards")
    doc = {
        "name": "lr",
        "stages": [
            {
                "id": "src",
                "uses": "source.synthetic",
                "with": {"episodes": 3, "cameras": ["front"], "image_size": [16, 16]},
            },
            {"id": "out", "uses": "sink.lerobot", "needs": ["src"], "with": {"path": str(root / "lerobot")}},
        ],
    }
    assert run_workflow(parse_workflow(doc, "lr.yaml"), str(root / "run"), runner="local", progress=False).ok
    return shards, root / "lerobot"


def _commands_exit_2(path, capsys, *commands) -> None:
    for cmd in commands:
        rc = main([*cmd, str(path)])
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err and str(path) in err, (cmd, err[-500:])


def test_deeply_nested_index_json(datasets, tmp_path, capsys):
    shards, _ = datasets
    bad = tmp_path / "ds"
    shutil.copytree(shards, bad)
    (bad / "index.json").write_text(NESTED)
    with pytest.raises(DatapipeError, match="index.json: JSON nested too deeply"):
        ShardDataset(str(bad))
    with pytest.raises(DatapipeError, match="index.json"):
        ShardStream(str(bad))
    _commands_exit_2(bad, capsys, ["inspect"], ["validate-dataset", "--no-progress"])
    assert main(["audit", str(bad), "--out", str(tmp_path / "a"), "--no-progress"]) == 2


def test_deeply_nested_info_json_and_jsonl(datasets, tmp_path, capsys):
    _, lerobot = datasets
    bad = tmp_path / "lr"
    shutil.copytree(lerobot, bad)
    (bad / "meta" / "info.json").write_text(NESTED)
    with pytest.raises(DatapipeError, match="info.json: JSON nested too deeply"):
        LeRobotReader(str(bad))
    _commands_exit_2(bad, capsys, ["inspect"])
    assert main(["audit", str(bad), "--out", str(tmp_path / "a"), "--no-progress"]) == 2


def test_a_huge_template_width_is_refused_before_anything_is_allocated(datasets, tmp_path, capsys):
    _, lerobot = datasets
    bad = tmp_path / "lr"
    shutil.copytree(lerobot, bad)
    info = json.loads((bad / "meta" / "info.json").read_text())
    info["data_path"] = "data/chunk-{chunk_index:03d}/file-{file_index:010000000000d}.parquet"
    (bad / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(DatapipeError, match="field 'data_path'.*width"):
        LeRobotReader(str(bad))
    _commands_exit_2(bad, capsys, ["inspect"])


def test_a_flipped_bit_in_the_episodes_parquet_names_the_file(datasets, tmp_path, capsys):
    _, lerobot = datasets
    bad = tmp_path / "lr"
    shutil.copytree(lerobot, bad)
    (target,) = (bad / "meta" / "episodes").rglob("*.parquet")
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF  # inside the footer's length: the file cannot be opened
    target.write_bytes(bytes(data))
    with pytest.raises(DatapipeError, match=target.name):
        LeRobotReader(str(bad)).episode_indices()
    _commands_exit_2(bad, capsys, ["inspect"])

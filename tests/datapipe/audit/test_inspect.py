"""datapipe inspect on every format it reads; its draft config is a valid standardize config."""

from __future__ import annotations

import json

import pytest
import yaml

from datapipe.cli import main as cli_main
from datapipe.standardize.standard import standard_from_dict
from tests.community_fixtures import write_aloha, write_rlds, write_robomimic


def _inspect(path, capsys) -> dict:
    assert cli_main(["inspect", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_inspect_hdf5_rlds_and_shards(tmp_path, capsys):
    write_robomimic(tmp_path / "lift.hdf5")
    report = _inspect(tmp_path / "lift.hdf5", capsys)
    assert report["format"] == "hdf5" and report["version"] == "robomimic" and report["episodes"] == 3
    assert report["steps"]["action"]["shape"] == [7] and report["cameras"] == {"agentview": {"16x16": 3}}
    assert report["guess"]["gripper"]["kind"] == "binary" and report["guess"]["gripper"]["open"] == "low"
    assert report["guess"]["space"] == "ee_delta" and report["action"]["max"][6] == 1.0
    std = standard_from_dict(yaml.safe_load(report["draft_config"]), "draft")
    assert std.action.space == "ee_delta" and std.gripper.range == (-1.0, 1.0)
    write_rlds(tmp_path / "rlds")
    report = _inspect(tmp_path / "rlds", capsys)
    assert report["format"] == "rlds" and report["episodes"] == 3 and report["fps"] == [10.0]
    write_aloha(tmp_path / "aloha")
    report = _inspect(tmp_path / "aloha", capsys)
    assert report["version"] == "aloha" and set(report["cameras"]) == {"cam_high", "cam_left_wrist"}
    draft = tmp_path / "draft.yaml"
    assert cli_main(["inspect", str(tmp_path / "aloha"), "--draft", str(draft)]) == 0
    assert "cam_high: primary" in draft.read_text() and "aloha" in capsys.readouterr().out


@pytest.mark.parametrize("content", [None, b"junk", b"{}"])
def test_unreadable_input_exits_2_naming_the_file(tmp_path, capsys, content):
    target = tmp_path / "thing.hdf5"
    if content == b"{}":
        (tmp_path / "ds").mkdir()
        (tmp_path / "ds" / "index.json").write_text("{}")
        target = tmp_path / "ds"
    elif content is not None:
        target.write_bytes(content)
    assert cli_main(["inspect", str(target)]) == 2
    assert str(target) in capsys.readouterr().err


def test_draft_camera_roles_go_by_what_the_names_mean_not_their_order():
    from datapipe.audit.inspect import camera_roles, describe_fps

    assert camera_roles(["a_cam", "agentview", "wrist"]) == {
        "a_cam": "secondary",
        "agentview": "primary",
        "wrist": "wrist",
    }
    assert camera_roles(["aa", "robot0_eye_in_hand"])["robot0_eye_in_hand"] == "wrist"
    assert camera_roles(["gripper", "side", "zz", "front"]) == {
        "front": "primary",
        "gripper": "wrist",
        "side": "secondary",
        "zz": "drop",
    }
    assert camera_roles(["left_hand", "right_hand"]) == {"left_hand": "wrist", "right_hand": "primary"}
    assert describe_fps([30.0]) == "30" and describe_fps([15.0, 30.0]) == "mixed: 15, 30"

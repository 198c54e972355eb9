"""datapipe audit: injected defects give exactly their findings on exactly their episodes, a clean
dataset gives none; the report is self-contained and its plots render in headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from datapipe.audit.datasets import audit_dataset
from datapipe.cli import main as cli_main
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.formats.shards.manifest import build_manifest
from datapipe.formats.shards.writer import ShardOptions, write_part
from datapipe.records import CameraStream
from datapipe.storage import resolve
from tests.helpers import expected_synthetic

PART = "part-00000000000000ab"


def _episodes(n: int = 8):
    return expected_synthetic(n, seed=21, min_length=20, max_length=30, cameras=("front",), image_size=(32, 32))


def _write(root: Path, episodes) -> None:
    receipt = write_part(resolve(root), episodes, PART, ShardOptions(max_episodes=2, val_fraction=0.0))
    build_manifest(resolve(root), [receipt], 0.0, "")


def _truncate_second_sample(path: Path) -> None:
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    keys = [m.name.split(".")[0] for m in members]
    second = next(m for m, k in zip(members, keys) if k != keys[0])
    path.write_bytes(path.read_bytes()[: second.offset_data + second.size // 2])


def test_clean_dataset_has_no_findings(tmp_path):
    _write(tmp_path / "clean", _episodes())
    _, summary = audit_dataset(str(tmp_path / "clean"))
    assert summary["findings"] == [], summary["findings"]
    assert summary["episodes"] == 8 and summary["cameras"]["front"]["coverage"] == 1.0


def test_injected_defects_give_exactly_their_findings(tmp_path):
    eps = _episodes()
    e = list(eps)
    action = np.array(e[1].steps["action"])
    action[5, 2] = np.nan
    e[1] = e[1].with_steps(action=action)  # a NaN action
    e[2] = e[0].replace(episode_id="00000000-0000-0000-0000-00000000dup0")  # a duplicate of episode 0
    still = np.repeat(e[3].cameras["front"].frames()[:1], e[3].length, axis=0)
    e[3] = e[3].replace(cameras={"front": CameraStream.from_frames(still, e[3].fps)})  # a frozen camera
    ts = np.array(e[4].steps["timestamp"])
    ts[12:] += 1.0
    e[4] = e[4].with_steps(timestamp=ts)  # a timestamp gap
    e[5] = e[5].replace(task=("",))  # an empty instruction
    root = tmp_path / "defects"
    _write(root, e)
    manifest = json.loads((root / "index.json").read_text())
    last = manifest["shards"][-1]["name"]  # holds episodes 6 and 7
    _truncate_second_sample(root / last)  # a truncated shard: episode 7 is lost
    _, summary = audit_dataset(str(root))
    got = {(f["kind"], tuple(sorted(f["episode_ids"]))) for f in summary["findings"]}
    expected = {
        ("non_finite", (e[1].episode_id,)),
        ("duplicate", tuple(sorted([e[0].episode_id, e[2].episode_id]))),
        ("frozen_camera", (e[3].episode_id,)),
        ("timestamp_gap", (e[4].episode_id,)),
        ("empty_instruction", (e[5].episode_id,)),
        ("truncated_shard", (e[7].episode_id,)),
    }
    assert got == expected
    truncated = next(f for f in summary["findings"] if f["kind"] == "truncated_shard")
    assert last in truncated["message"]


def test_declared_limits_missing_shard_and_checksum(tmp_path):
    root = tmp_path / "ds"
    eps = _episodes(6)
    _write(root, eps)
    manifest = json.loads((root / "index.json").read_text())
    (root / manifest["shards"][0]["name"]).unlink()  # missing: episodes 0 and 1
    data = bytearray((root / manifest["shards"][1]["name"]).read_bytes())
    data[-1500] ^= 0xFF  # a flipped byte in the end padding: readable, wrong checksum
    (root / manifest["shards"][1]["name"]).write_bytes(bytes(data))
    limits = {"action": {"min": [-0.05] * 7, "max": [0.05] * 7}}
    from datapipe.audit.checks import AuditThresholds

    _, summary = audit_dataset(str(root), AuditThresholds(limits=limits))
    kinds = {f["kind"]: f for f in summary["findings"]}
    assert set(kinds["missing_file"]["episode_ids"]) == {eps[0].episode_id, eps[1].episode_id}
    assert "truncated_shard" not in kinds  # the flipped byte breaks no sample: the shard's checksum finds it
    in_shard_1 = {
        r["episode_id"] for r in ShardDataset(str(root)).episode_rows() if r["shard"] == manifest["shards"][1]["name"]
    }
    assert set(kinds["checksum_mismatch"]["episode_ids"]) == in_shard_1
    assert "out_of_limits" in kinds


def test_cli_writes_summary_and_report_and_compares(tmp_path, capsys):
    _write(tmp_path / "a", _episodes(6))
    _write(
        tmp_path / "b",
        expected_synthetic(5, seed=99, min_length=40, max_length=50, cameras=("front",), image_size=(32, 32)),
    )
    assert (
        cli_main(
            [
                "audit",
                str(tmp_path / "a"),
                "--out",
                str(tmp_path / "out"),
                "--compare",
                str(tmp_path / "b"),
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["compare"]["episodes"] == 5 and summary["language"]["distinct_instructions"] >= 1
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Comparison" in report and "http" not in report.replace("http-equiv", "")  # self-contained
    # the report says which version of the dataset it describes: a rewrite at the same path is another
    index = (tmp_path / "a" / "index.json").read_bytes()
    version = summary["dataset_version"]
    assert version["file"] == "index.json" and version["sha256"] == hashlib.sha256(index).hexdigest()
    said = f"index.json sha256 {version['sha256'][:12]}, written {version['written_at']}"
    assert said in report and said in capsys.readouterr().out
    _write(tmp_path / "a", _episodes(4))
    assert cli_main(["audit", str(tmp_path / "a"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    again = json.loads((tmp_path / "out" / "summary.json").read_text())["dataset_version"]
    assert again["sha256"] != version["sha256"]
    assert cli_main(["audit", str(tmp_path / "nothing"), "--no-progress"]) == 2
    assert not (tmp_path / "nothing").exists()  # a missing dataset gets no audit folder made in its place
    assert "nothing: no such file or folder" in capsys.readouterr().err


def test_audit_of_a_lerobot_export_and_the_audit_stage(tmp_path):
    doc = {
        "name": "aud",
        "stages": [
            {
                "id": "src",
                "uses": "source.synthetic",
                "with": {"episodes": 6, "cameras": ["front"], "image_size": [32, 32]},
            },
            {"id": "lr", "uses": "sink.lerobot", "needs": ["src"], "with": {"path": str(tmp_path / "lr")}},
            {"id": "audit", "uses": "audit.report", "needs": ["src"], "with": {"path": str(tmp_path / "audit")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "aud.yaml"), out=str(tmp_path / "run"), runner="local", progress=False)
    assert result.ok, result.error
    staged = json.loads((tmp_path / "audit" / "summary.json").read_text())
    _, from_lerobot = audit_dataset(str(tmp_path / "lr"))
    assert staged["episodes"] == from_lerobot["episodes"] == 6 and from_lerobot["format"] == "lerobot"
    assert from_lerobot["findings"] == [] and staged["findings"] == []


def test_report_plots_render_in_headless_chromium(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (make test installs Debian's chromium)")
    _write(tmp_path / "ds", _episodes())
    assert cli_main(["audit", str(tmp_path / "ds"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    html = (tmp_path / "out" / "report.html").read_text()
    plots = re.findall(r'<img class="plot" alt="[^"]*" src="data:image/png;base64,([^"]+)"', html)
    assert len(plots) >= 4
    for data in plots:
        png = base64.b64decode(data)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            (tmp_path / "out" / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (2000, 1200)
    colourful = (np.abs(img[:, :, 0].astype(int) - img[:, :, 2].astype(int)) > 40).mean()
    assert colourful > 0.01, "the screenshot shows no coloured plots"


def _sim_episodes(task: str, n: int):
    from datapipe.generators.generator import SimGenerator, SimSettings

    gen = SimGenerator(SimSettings(task=task, cameras=("front", "wrist"), image_size=(64, 64)))
    runs = [r for r in (gen.simulate(seed) for seed in range(n + 3)) if r.success][:n]
    return [gen.episode(r) for r in runs]


def test_clean_expert_datasets_of_every_task_have_no_findings(tmp_path):
    """The embodiment says the last action dimension is a binary gripper: its open/close steps are
    no action jumps, and its long holds no frozen action."""
    from datapipe.generators.tasks import task_names

    for task in task_names():
        eps = _sim_episodes(task, 3)
        assert eps[0].embodiment.action_kinds[-1] == "gripper_binary"
        _write(tmp_path / task, eps)
        _, summary = audit_dataset(str(tmp_path / task))
        assert summary["findings"] == [], (task, summary["findings"])


def test_action_kinds_keep_arm_jumps_and_non_binary_grippers_visible(tmp_path):
    ep = _sim_episodes("pick_place", 1)[0]
    action = np.array(ep.steps["action"])
    action[40, 1] += 0.5  # an arm joint target jumps by 0.5 rad for one step
    action[60, -1] = 0.5  # a binary gripper half open
    _write(tmp_path / "bad", [ep.with_steps(action=action)])
    _, summary = audit_dataset(str(tmp_path / "bad"))
    kinds = {f["kind"]: f["message"] for f in summary["findings"]}
    assert set(kinds) == {"action_jump", "gripper_not_binary"}, kinds
    assert "without the gripper" in kinds["action_jump"] and "step 40" in kinds["action_jump"]


def test_mixtures_augmented_copies_and_conflicting_arrays(tmp_path):
    from datapipe.audit.auditor import Auditor
    from datapipe.augment.derived import augmented

    e = list(_episodes(5))
    copy = augmented(e[0], "augment.sim_views", "1", 0, {"view": 0})  # keeps its parent's actions, by design
    e[1] = e[1].with_steps(**{"task.state": np.zeros((e[1].length, 3), np.float32)})  # one source's extra array
    e[2] = e[2].with_steps(**{"observation.state": np.asarray(e[2].steps["observation.state"], np.float64)})
    auditor = Auditor(check_cameras=False)
    for ep in [*e, copy]:
        auditor.add(ep)
    summary = auditor.summary("mixture", "episodes")
    by_kind = {f["kind"]: f for f in summary["findings"]}
    assert set(by_kind) == {"partial_steps", "mismatched_shapes"}, summary["findings"]
    partial = by_kind["partial_steps"]
    assert partial["severity"] == "info" and "task.state" in partial["message"]
    assert sorted(partial["episode_ids"]) == sorted(x.episode_id for x in [*e, copy] if x is not e[1])
    mismatched = by_kind["mismatched_shapes"]
    assert mismatched["severity"] == "error" and mismatched["episode_ids"] == [e[2].episode_id]
    assert "'observation.state' is <f8[7]" in mismatched["message"]
    # an exact copy that is not an augmentation of the other is still a duplicate
    auditor.add(e[3].replace(episode_id="00000000-0000-0000-0000-00000000dup3"))
    kinds = [f["kind"] for f in auditor.summary("mixture", "episodes")["findings"]]
    assert "duplicate" in kinds


def test_report_shows_what_it_promises(tmp_path):
    episodes = expected_synthetic(4, seed=5, min_length=30, max_length=40, cameras=("front",), image_size=(32, 32))
    _write(tmp_path / "a", episodes)
    assert cli_main(["audit", str(tmp_path / "a"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    report = (tmp_path / "out" / "report.html").read_text()
    # thumbnails carry their source kind and episode; success as a percentage
    assert f"<figcaption>{episodes[0].source.kind} <code>" in report
    assert re.search(r"<b>(\d+%|-)</b>success</span>", report)


def test_curation_frames_follow_a_renamed_camera_and_scores_show_their_limits():
    from datapipe.audit.curation import clip_record, render

    ep = expected_synthetic(1, seed=1, min_length=8, max_length=8)[0].with_meta(
        egocentric={
            "keep": False,
            "camera": "ego",
            "scores": {"hand_fraction": 0.1},
            "score_limits": {"hand_fraction": ">= 0.5"},
        },
        standardized={"cameras": {"ego": "primary"}},
    )
    frames = {"primary": np.zeros((8, 24, 32, 3), np.uint8)}
    record = clip_record(ep, frames)
    assert len(record["thumbs"]) == 4  # the clip's camera is called primary now
    html_text = render([record], {"kept": 0, "clips": 1, "rejected_by": {}})
    assert "hand_fraction 0.1 (needs &gt;= 0.5)" in html_text

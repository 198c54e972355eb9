"""``workflows/demo.yaml`` (what ``make demo`` runs) end to end at small sizes, on Ray: every
source kind reaches the shards, LeRobot 0.4.4 loads the LeRobot export, the audit has no error
finding, the exploring policy is trained before its rollouts run, and the usefulness check rolls
out a policy trained on the dataset. The audit report is opened in Chromium; with
``DATAPIPE_UPDATE_DOCS=1`` its screenshot becomes the README's picture (docs/demo_report.png)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import load_workflow
from datapipe.formats.shards.dataset import ShardDataset
from tests.community_fixtures import LEROBOT_PY
from tests.conftest import REPO, SHARED_MEDIA

ROBOSUITE = REPO / "data" / "robosuite-1.4.1"

EGO_CLIP = SHARED_MEDIA / "ego_devset" / "ego" / "ego06_egoloc_tabletop_stapler_headcam.mp4"
SMALL = {  # the demo's sizes, reduced to about two minutes on 2 cores
    "pick_place.episodes": 4,
    "push.episodes": 2,
    "multiplied.per_source": 1,
    "explorer.steps": 300,
    "exploration.episodes": 3,
    "exploration.action_noise": 0.0,
    "exploration.keep_failures": True,  # a policy trained 300 steps rarely succeeds: keep what it did
    "exploration.max_steps": 120,
    "usefulness.steps": 300,
    "usefulness.evaluate": 2,
    "usefulness.max_steps": 150,
    "usefulness_vision.steps": 20,
    "usefulness_vision.evaluate": 2,
    "usefulness_vision.max_steps": 40,
}


def _screenshot(page: Path, shot: Path, profile: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (make test installs Debian's chromium)")
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1200,1800",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )


@pytest.mark.slow
def test_reduced_demo_end_to_end(ray_session, tmp_path, monkeypatch):
    if not (ROBOSUITE / ".fetched").is_file():
        pytest.skip("robosuite's demonstrations are missing: run `make robosuite-demos` (make test fetches them)")
    from rich.console import Console

    # a newcomer's run: from a directory outside the repository, no path overrides (inputs resolve
    # against the workflow file, outputs land under the working directory's out/demo)
    monkeypatch.chdir(tmp_path)
    from datapipe.cli import main as cli_main

    assert cli_main(["validate", str(REPO / "workflows" / "demo.yaml")]) == 0
    out = tmp_path / "out" / "demo"
    ego = EGO_CLIP.is_file()
    clips = [str(EGO_CLIP)] if ego else [str(tmp_path / "no-ego" / "*.mp4")]  # absent: an empty source
    overrides = [f"{k}={v}" for k, v in SMALL.items()] + [f"ego_videos.paths={json.dumps(clips)}"]
    workflow = load_workflow(REPO / "workflows" / "demo.yaml", overrides)
    printed = io.StringIO()
    result = run_workflow(workflow, out=str(tmp_path / "run"), console=Console(file=printed, width=200))
    assert result.ok, result.error
    plan = result.plan

    # the policy explored with was trained first, in the same run
    explorer, exploration = plan.get("explorer"), plan.get("exploration")
    assert explorer.result["steps"] == 300 and (out / "explorer" / "policy" / "policy.json").is_file()
    checkpoint = (out / "explorer" / "policy" / "policy.json").stat().st_mtime
    receipts = list(Path(exploration.dir.parts.path).glob("*.json"))
    assert receipts and min(r.stat().st_mtime for r in receipts) > checkpoint

    # every source kind is in the shards, in one convention
    ds = ShardDataset(str(out / "shards"))
    eps = list(ds.iter_episodes())
    kinds = {e.source.kind for e in eps}
    assert {"sim", "augmented", "community"} <= kinds and ("ego_video" in kinds) == ego, kinds
    assert {e.meta["standardized"]["dataset"] for e in eps} == {"datapipe_arm", "robosuite_panda"}
    rollouts = [e for e in eps if e.meta.get("rollout")]
    assert len(rollouts) == 3 and {e.meta["rollout"]["policy"] for e in rollouts} == {str(out / "explorer" / "policy")}
    assert any(e.source.uri.startswith("sim://push") for e in eps) and any("multiplied_from" in e.meta for e in eps)
    assert ds.features["observation.state"]["shape"] == [16] and ds.features["action"]["shape"] == [8]
    assert ds.features["primary"]["shape"] == [64, 64, 3]
    for e in eps:
        assert set(e.cameras) == {"primary"} and e.fps == 20.0
        assert set(np.unique(e.steps["action"][:, -1])) <= {0.0, 1.0}
        assert len(e.task) > 1, "no instruction variants"
    robosuite = [e for e in eps if e.source.kind == "community"]
    assert len(robosuite) == 3 and all(e.cameras["primary"].frames().std() > 5 for e in robosuite)

    # the audit found no error on this clean data
    summary = json.loads((out / "audit" / "summary.json").read_text())
    errors = [f for f in summary["findings"] if f["severity"] == "error"]
    assert not errors, errors
    assert summary["episodes"] == len(eps)

    # the usefulness check trained on the dataset's pick_place episodes and rolled the policy out
    useful = plan.get("usefulness").result
    assert useful["evaluation"]["episodes"] == 2 and useful["evaluation"]["task"] == "pick_place"
    # and the vision-language policy on the camera as the demo writes it (primary, from front)
    seeing = plan.get("usefulness_vision").result
    assert seeing["preset"] == "vision-language" and seeing["evaluation"]["episodes"] == 2
    policy_meta = json.loads((Path(seeing["checkpoint"].removeprefix("file://")) / "policy.json").read_text())
    assert policy_meta["cameras"] == ["primary"] and "front" in policy_meta["camera_sources"]["primary"]
    assert policy_meta["config"]["state_keys"] == []
    text = printed.getvalue()
    printed_lines = (
        "usefulness evaluation: it succeeds in",
        "usefulness_vision vision-language policy: trained",
        "report.html",
        "import ShardStream",
        "LeRobot v3.0:",
    )
    for expected in printed_lines:
        assert expected in text, f"the run did not print {expected!r}:\n{text[-3000:]}"

    # LeRobot itself loads the export
    if not LEROBOT_PY.exists():
        pytest.skip("the LeRobot venv is missing: run `make lerobot-venv` (make test builds it)")
    proc = subprocess.run(
        [
            str(LEROBOT_PY),
            str(REPO / "tests" / "lerobot_venv" / "load_check.py"),
            str(out / "lerobot"),
            str(tmp_path / "lr.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded["episodes"] == len(eps) and loaded["frames"] == sum(e.length for e in eps) and loaded["fps"] == 20

    # the report, as a person sees it
    shot = tmp_path / "report.png"
    _screenshot(out / "audit" / "report.html", shot, tmp_path / "profile")
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (1800, 1200) and img.std() > 20
    if os.environ.get("DATAPIPE_UPDATE_DOCS"):  # the README's picture: DATAPIPE_UPDATE_DOCS=1 pytest tests/test_demo.py
        shutil.copy(shot, REPO / "docs" / "demo_report.png")

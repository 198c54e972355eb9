"""Evaluation under shift: what a shifted scene draws never occurs among training seeds' draws
(checked over many seeds), the task of a seed stays the same (paired seeds), and evaluate
reports every shift on the same seeds with what was held out."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from datapipe.cli import main as cli_main
from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.shift import CAMERA_BEYOND, EXTREME_CHANNEL, HELD_OUT_TEXTURES

SEEDS = range(600)


def _colours(params: dict) -> list[np.ndarray]:
    out = [np.asarray(params[s][k]) for s in ("table", "floor") for k in ("rgb1", "rgb2")]
    return out + [np.asarray(d["rgba"][:3]) for d in params["distractors"]]


def _extreme(rgb: np.ndarray) -> bool:
    return any(lo <= c <= hi for c in rgb for lo, hi in EXTREME_CHANNEL)


def _tint_ratio(light: dict) -> float:
    d = np.asarray(light["diffuse"])
    return float(d.min() / d.max())


def _camera_offsets(gen: SimGenerator, params: dict) -> np.ndarray:
    """Per camera and axis, |offset from nominal| in multiples of the training half-width."""
    r, rows = gen.settings.ranges, []
    for name, cam in params["cameras"].items():
        nominal = gen.settings.camera_poses[name]
        rows += list(np.abs(np.subtract(cam["pos"], nominal["pos"])) / (r.camera_pos * r.level))
        rows += list(np.abs(np.subtract(cam["lookat"], nominal["lookat"])) / (r.camera_lookat * r.level))
        rows.append(abs(cam["fovy"] - nominal["fovy"]) / (r.camera_fovy * r.level))
    return np.asarray(rows)


def test_held_out_scenes_never_occur_among_training_draws_and_keep_the_seeds_task():
    train = SimGenerator(SimSettings(task="pick_named", cameras=()))
    held = SimGenerator(SimSettings(task="pick_named", cameras=(), shift="visual"))
    for seed in SEEDS:
        a, b = train.scene_params(seed), held.scene_params(seed)
        assert a["table"]["texture"] not in HELD_OUT_TEXTURES and a["floor"]["texture"] not in HELD_OUT_TEXTURES
        assert not any(_extreme(c) for c in _colours(a))
        assert min(_tint_ratio(x) for x in a["lights"]) >= 0.8 - 1e-3
        assert _camera_offsets(train, a).max() <= 1.0 + 1e-3
        assert b["table"]["texture"] in HELD_OUT_TEXTURES and b["floor"]["texture"] in HELD_OUT_TEXTURES
        assert all(_extreme(c) for c in _colours(b))
        assert max(_tint_ratio(x) for x in b["lights"]) <= 0.75 + 1e-3
        assert _camera_offsets(held, b).min() >= CAMERA_BEYOND[0] - 1e-3
        assert a["task"] == b["task"] and a["physics"] == b["physics"] and a["robot"] == b["robot"]


def test_a_language_shift_asks_with_held_out_wording_in_the_same_scene():
    train = SimGenerator(SimSettings(task="pick_named", cameras=()))
    held = SimGenerator(SimSettings(task="pick_named", cameras=(), shift="language"))
    templates = [t.split("{")[0] for t in held.task.held_out_templates]
    for seed in range(40):
        a, b = train.scene_params(seed), held.scene_params(seed)
        assert any(b["task"]["instruction"].startswith(t) for t in templates)
        assert a["task"]["instruction"] != b["task"]["instruction"]
        assert a["task"]["blocks"] == b["task"]["blocks"] and a["table"] == b["table"]


def test_a_held_out_scene_renders_other_pixels_than_its_training_twin():
    settings = SimSettings(task="pick_named", cameras=("front",), image_size=(48, 48))
    frames = []
    for gen in (SimGenerator(settings), SimGenerator(dataclasses.replace(settings, shift="visual"))):
        params = gen.scene_params(3)
        sim = gen.build(params)
        frames.append(gen.live_frame(sim, params, "front").astype(int))
    assert np.abs(frames[0] - frames[1]).mean() > 10


def test_evaluate_reports_each_shift_on_the_same_seeds(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["evaluate", "--policy", "expert", "--task", "pick_named", "--episodes", "2", "--local"]
    assert cli_main([*args, "--shift", "none,both", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["shifts"]) == {"none", "both"} and result["shift"] == "none"
    assert result["shifts"]["none"]["seeds"] == result["shifts"]["both"]["seeds"]
    assert result["shifts"]["both"]["success_rate"] == 1.0  # the expert does not look: same scenes, same plan
    held = result["shifts"]["both"]["held_out"]
    assert held["visual"]["textures"] == list(HELD_OUT_TEXTURES) and held["language"]["templates"]
    assert result["shifts"]["none"]["held_out"] == {}
    said = capsys.readouterr().out
    assert "(shift both): success 2/2" in said
    assert cli_main([*args, "--task", "stack", "--shift", "language"]) == 2
    assert "task stack has no held-out instructions" in capsys.readouterr().err
    assert cli_main([*args, "--shift", "sideways"]) == 2

"""The vision-language preset of the reference trainer on rendered simulated episodes: it
overfits two episodes, a checkpoint predicts the same chunk after a round trip, what it cannot see
or must not see is refused by name, and ``datapipe evaluate`` runs it, rendering its cameras."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datapipe.cli import main as cli_main
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.formats.shards.manifest import build_manifest
from datapipe.formats.shards.sample import camera_frames
from datapipe.formats.shards.writer import ShardOptions, write_part
from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.storage import resolve

torch = pytest.importorskip("torch")

SIZE = 48  # px, as rendered; the policy sees 32


def _rendered(folder, n: int, cameras=("front", "wrist"), task: str = "pick_named") -> str:
    gen = SimGenerator(SimSettings(task=task, cameras=cameras, image_size=(SIZE, SIZE)))
    runs = [r for r in (gen.simulate(s) for s in range(n + 3)) if r.success][:n]
    eps = [gen.episode(r, render=True) for r in runs]
    receipt = write_part(resolve(folder), eps, "part-000000000000000a", ShardOptions(val_fraction=0.0))
    build_manifest(resolve(folder), [receipt], 0.0, "")
    return str(folder)


@pytest.fixture(scope="module")
def two_episodes(tmp_path_factory):
    return _rendered(tmp_path_factory.mktemp("vl") / "ds", 2)


def _train(ds: str, out, *extra: str) -> int:
    args = ["train", ds, "--preset", "vision-language", "--image-size", "32", "--batch-size", "32"]
    args += ["--hidden", "128", "--horizon", "1", "--no-progress", "--out", str(out), *extra]
    return cli_main(args)


def test_it_overfits_two_episodes_and_a_round_trip_predicts_the_same_chunk(two_episodes, tmp_path):
    from datapipe.training.policy import load_checkpoint_policy

    assert _train(two_episodes, tmp_path / "ckpt", "--steps", "400", "--lr", "2e-3", "--shift-px", "0") == 0
    meta = json.loads((tmp_path / "ckpt" / "policy.json").read_text())
    assert meta["preset"] == "vision-language" and meta["cameras"] == ["front", "wrist"]
    assert meta["image_size"] == [32, 32] and meta["render_sizes"]["front"] == [SIZE, SIZE]
    from datapipe.language.vocabulary import words

    said = {w for ep in ShardDataset(two_episodes).iter_episodes() for t in ep.task for w in words(t)}
    assert said <= set(meta["vocabulary"]) and meta["config"]["state_keys"] == []
    import cv2

    policy = load_checkpoint_policy(str(tmp_path / "ckpt"))
    errors, first = [], None
    for ep in ShardDataset(two_episodes).iter_episodes():
        frames = {c: camera_frames(ep, c, "test") for c in ("front", "wrist")}
        for t in range(0, ep.length, 7):
            obs = {"observation.state": ep.steps["observation.state"][t], "task": ep.task[0]}
            for c, f in frames.items():
                obs[f"observation.images.{c}"] = cv2.resize(f[t], (32, 32), interpolation=cv2.INTER_AREA)
            chunk = policy.predict(obs)
            first = first or (obs, chunk)
            errors.append(np.abs(chunk[0, :7] - ep.steps["action"][t, :7]).mean())
    assert np.mean(errors) < 0.08, np.mean(errors)  # rad: it reproduces what it was shown
    again = load_checkpoint_policy(str(tmp_path / "ckpt"))
    assert np.array_equal(again.predict(first[0]), first[1])
    blind = {k: v for k, v in first[0].items() if k != "observation.images.wrist"}
    from datapipe.training.vision_language import ObservationError

    with pytest.raises(ObservationError, match="observation.images.wrist"):
        policy.predict(blind)


def test_what_it_cannot_or_must_not_see_is_refused_by_name(two_episodes, tmp_path, capsys):
    assert _train(two_episodes, tmp_path / "a", "--steps", "2", "--cameras", "front,side") == 2
    assert "no camera 'side'" in capsys.readouterr().err
    assert _train(two_episodes, tmp_path / "b", "--steps", "2", "--state-keys", "task.state") == 2
    assert "'task.state' is privileged" in capsys.readouterr().err
    assert _train(two_episodes, tmp_path / "c", "--steps", "2", "--state-keys", "task.state", "--allow-privileged") == 0
    # a checkpoint that sees the wrist camera, resumed on a dataset without one
    assert _train(two_episodes, tmp_path / "d", "--steps", "2") == 0
    front_only = _rendered(tmp_path / "front", 1, cameras=("front",))
    assert _train(front_only, tmp_path / "d", "--steps", "4") == 2
    assert "wrist" in capsys.readouterr().err


def test_evaluate_renders_the_cameras_of_a_vision_checkpoint(two_episodes, tmp_path):
    assert _train(two_episodes, tmp_path / "ckpt", "--steps", "3") == 0
    out = tmp_path / "r.json"
    args = ["evaluate", "--policy", str(tmp_path / "ckpt"), "--task", "pick_named", "--episodes", "2"]
    assert cli_main([*args, "--max-steps", "20", "--local", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["episodes"] == 2 and all(e["length"] == 20 for e in result["per_episode"])


def test_a_standardized_camera_role_is_rendered_from_the_camera_it_came_from(two_episodes, tmp_path, capsys):
    # standardize.embodiment renames front to the role primary and records it in meta.standardized
    eps = [
        ep.replace(cameras={"primary": ep.cameras["front"]}).with_meta(standardized={"cameras": {"front": "primary"}})
        for ep in ShardDataset(two_episodes).iter_episodes()
    ]
    folder = tmp_path / "std"
    build_manifest(
        resolve(folder),
        [write_part(resolve(folder), eps, "part-000000000000000b", ShardOptions(val_fraction=0.0))],
        0.0,
        "",
    )
    assert _train(str(folder), tmp_path / "ckpt", "--steps", "2") == 0
    meta = json.loads((tmp_path / "ckpt" / "policy.json").read_text())
    assert meta["cameras"] == ["primary"] and meta["camera_sources"] == {"primary": ["front"]}
    args = ["evaluate", "--policy", str(tmp_path / "ckpt"), "--task", "pick_named", "--episodes", "1"]
    assert cli_main([*args, "--max-steps", "10", "--local", "--out", str(tmp_path / "r.json")]) == 0
    from datapipe.generators.evaluate import sim_cameras
    from datapipe.training.vision_language import ObservationError

    gen = SimGenerator(SimSettings(task="pick_named", cameras=("front",)))
    assert sim_cameras(gen, ("primary", "wrist"), {"primary": ("ego", "front")}) == {
        "primary": "front",
        "wrist": "wrist",
    }
    with pytest.raises(ObservationError, match="'primary'.*no camera primary, ego"):
        sim_cameras(gen, ("primary",), {"primary": ("ego",)})


def test_an_auxiliary_target_is_learned_but_never_observed_and_init_from_copies_weights(two_episodes, tmp_path, capsys):
    from datapipe.training.policy import load_checkpoint_policy
    from datapipe.training.presets import observation_batch

    ckpt = tmp_path / "aux"
    assert _train(two_episodes, ckpt, "--steps", "300", "--lr", "2e-3", "--aux-keys", "task.state") == 0
    meta = json.loads((ckpt / "policy.json").read_text())
    width = ShardDataset(two_episodes).features["task.state"]["shape"][0]  # 3 blocks, 5 each, and the zone
    assert meta["aux_dim"] == width == 18 and meta["config"]["aux_keys"] == ["task.state"]
    policy = load_checkpoint_policy(str(ckpt))
    assert policy.keys == ()  # task.state is a training target, not an observation
    ep = next(iter(ShardDataset(two_episodes).iter_episodes()))
    import cv2

    frames = {c: camera_frames(ep, c, "test") for c in ("front", "wrist")}
    obs = {"observation.state": ep.steps["observation.state"][0], "task": ep.task[0]}
    for c, f in frames.items():
        obs[f"observation.images.{c}"] = cv2.resize(f[0], (32, 32), interpolation=cv2.INTER_AREA)
    policy.predict(obs)  # a rollout needs no task.state
    state = torch.from_numpy(policy._norm("observation.state", obs["observation.state"]))[None]
    with torch.no_grad():
        _, guess = policy.preset.forward(policy.model, observation_batch(policy.preset, obs), state, False, aux=True)
    st = policy.stats["task.state"]
    guessed = guess.numpy()[0] * st["std"] + st["mean"]
    assert np.abs(guessed[:2] - ep.steps["task.state"][0, :2]).max() < 0.5 * st["std"][:2].min()  # m: it learned
    # a run initialized from it starts with its camera encoders (same names and shapes)
    assert _train(two_episodes, tmp_path / "init", "--steps", "1", "--lr", "1e-12", "--init-from", str(ckpt)) == 0
    start = torch.load(tmp_path / "init" / "checkpoint.pt", weights_only=False)["model"]
    trained = torch.load(ckpt / "checkpoint.pt", weights_only=False)["model"]
    assert torch.allclose(start["encoders.front.stem.0.weight"], trained["encoders.front.stem.0.weight"], atol=1e-6)
    assert torch.allclose(start["words.weight"], trained["words.weight"], atol=1e-6)  # the same vocabulary
    assert "aux.0.weight" not in start  # no auxiliary head asked for, none built
    assert _train(two_episodes, tmp_path / "x", "--steps", "1", "--init-from", str(tmp_path / "none")) == 2
    assert "--init-from" in capsys.readouterr().err
    args = ["train", two_episodes, "--out", str(tmp_path / "s"), "--aux-keys", "task.state", "--steps", "1"]
    assert cli_main([*args, "--no-progress"]) == 2
    assert "only the vision-language preset" in capsys.readouterr().err

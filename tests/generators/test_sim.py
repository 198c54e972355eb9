"""Simulated demonstrations: expert success per task, determinism, randomization, replay, the
generate.sim stage on Ray, and demo multiplication."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.geometry import pose_to_mat, yaw_quat
from datapipe.generators.multiply import APPROACH_STEPS, DemoMultiplier, SourceSegment, nearest_quarter_turn
from datapipe.generators.randomization import RandomizationRanges
from datapipe.generators.tasks import task_names


@pytest.mark.parametrize("task", task_names())
def test_expert_succeeds_on_at_least_90_percent_of_20_seeds(task):
    gen = SimGenerator(SimSettings(task=task))
    outcomes = [gen.simulate(seed).success for seed in range(100, 120)]
    assert sum(outcomes) >= 18, f"{task}: {sum(outcomes)}/20"


def _first_frames(gen: SimGenerator, run, n: int = 3) -> np.ndarray:
    a = run.recording.arrays()
    return gen.render(run.params, a["qpos"][:n], a["qvel"][:n])["front"]


@pytest.mark.parametrize("task", task_names())
def test_same_seed_is_bit_identical_whatever_the_worker_simulated_before(task):
    """The scene is compiled once and edited per episode: an episode must not depend on the
    episodes before it (every edited field is written again from the seed's values)."""
    settings = SimSettings(task=task, cameras=("front",), image_size=(48, 48))
    fresh, used = SimGenerator(settings), SimGenerator(settings)
    for seed in (1, 2):
        used.simulate(seed)
    a, b = fresh.simulate(7), used.simulate(7)
    assert fresh.template().model is not used.template().model
    ea, eb = fresh.episode(a, render=False), used.episode(b, render=False)
    assert ea.equals(eb)
    assert np.array_equal(_first_frames(fresh, a), _first_frames(used, b))


def test_same_seed_is_bit_identical_and_seeds_differ():
    gen = SimGenerator(SimSettings(task="pick_place", cameras=("front",), image_size=(48, 48)))
    a, b, c = gen.simulate(7), gen.simulate(7), gen.simulate(8)
    ea, eb = gen.episode(a, render=False), gen.episode(b, render=False)
    assert ea.equals(eb) and ea.episode_id == eb.episode_id
    ra, rb = a.recording.arrays(), b.recording.arrays()
    assert all(np.array_equal(ra[k], rb[k]) for k in ra)
    assert np.array_equal(_first_frames(gen, a), _first_frames(gen, b))
    assert a.params != c.params  # every randomized value comes from the seed
    for key in ("table", "lights", "cameras", "physics"):
        assert a.params[key] != c.params[key], key
    assert a.params["task"]["block"]["xy"] != c.params["task"]["block"]["xy"]
    assert not np.array_equal(_first_frames(gen, a), _first_frames(gen, c))


def test_randomization_values_are_stored_and_rebuild_the_scene():
    gen = SimGenerator(SimSettings(task="stack"))
    run = gen.simulate(3)
    sizes = run.model.geom_size.copy()
    ep = gen.episode(run, render=False)
    gen.simulate(4)  # the scene now holds another seed's values
    params = ep.meta["randomization"]
    assert params == run.params and set(params) >= {
        "table",
        "lights",
        "cameras",
        "physics",
        "robot",
        "task",
        "distractors",
    }
    model = gen.build(params).model  # from the metadata alone
    assert np.array_equal(model.geom_size, sizes)


@pytest.mark.parametrize("task", ["pick_place", "open_drawer"])
def test_replay_of_a_stored_episode_reproduces_success(task):
    gen = SimGenerator(SimSettings(task=task))
    ep = gen.episode(gen.simulate(11), render=False)
    assert ep.success
    initial = np.asarray(ep.meta["sim"]["initial_state"])
    assert gen.replay(ep.meta["randomization"], initial, np.asarray(ep.steps["sim.ctrl"]))
    # and a wrong command sequence does not succeed: the replay really re-simulates
    assert not gen.replay(ep.meta["randomization"], initial, np.asarray(ep.steps["sim.ctrl"])[:5])


def test_generate_sim_stage_on_ray_writes_rendered_shards(ray_session, tmp_path):
    doc = {
        "name": "sim",
        "stages": [
            {
                "id": "sim",
                "uses": "generate.sim",
                "with": {
                    "task": "push",
                    "episodes": 2,
                    "seeds_per_shard": 1,
                    "cameras": ["front"],
                    "image_size": [32, 32],
                },
            },
            {
                "id": "out",
                "uses": "sink.webdataset",
                "needs": ["sim"],
                "with": {"path": str(tmp_path / "ds"), "val_fraction": 0.0},
            },
        ],
    }
    result = run_workflow(parse_workflow(doc, "sim.yaml"), out=str(tmp_path / "run"), progress=False)
    assert result.ok, result.error
    eps = list(ShardDataset(str(tmp_path / "ds")).iter_episodes())
    assert len(eps) == result.counts("sim")["out"] >= 1
    for ep in eps:
        assert ep.success and ep.source.kind == "sim" and ep.meta["replay_checked"]
        frames = ep.cameras["front"].frames()
        assert frames.shape == (ep.length, 32, 32, 3) and frames.std() > 5
        assert ep.steps["action"].shape == (ep.length, 8) and ep.steps["action.ee_delta"].shape == (ep.length, 7)
        assert ep.meta["generation"]["seeds"] == 1


def test_multiplying_three_pick_place_demos_gives_new_successful_episodes():
    gen = SimGenerator(SimSettings(task="pick_place"))
    sources = [gen.episode(gen.simulate(s), render=False) for s in (0, 1, 2)]
    multiplier = DemoMultiplier(gen)
    kept, rate = multiplier.multiply(sources, list(range(500, 510)))
    assert rate >= 0.8 and rate == len(kept) / 10
    source_starts = [np.asarray(s.steps["object.poses"])[0, 0, :2] for s in sources]
    for run, source_id in kept:
        ep = multiplier.episode(run, source_id, render=False)
        assert ep.success and ep.meta["multiplied_from"] in {s.episode_id for s in sources}
        start = np.asarray(ep.steps["object.poses"])[0, 0, :2]
        assert min(np.linalg.norm(start - s) for s in source_starts) > 0.01  # a new object pose
        assert ep.episode_id not in {s.episode_id for s in sources}


def test_demonstrations_vary_like_human_ones():
    """The expert's timing is seeded per episode (recorded in meta): 100 episodes of pick_place have
    a spread of lengths, and a seed still gives the same episode."""
    gen = SimGenerator(SimSettings(task="pick_place"))
    runs = [gen.simulate(seed) for seed in range(1000, 1100)]
    lengths = np.array([len(r.recording) for r in runs])
    assert len(set(lengths.tolist())) >= 20 and lengths.std() > 8, lengths
    assert sum(r.success for r in runs) >= 95
    style = runs[0].params["expert_style"]
    assert set(style) == {"speed", "jitter", "extra_hold"} and 0.75 < style["speed"] < 1.3
    again = gen.simulate(1000)
    assert len(again.recording) == lengths[0] and again.params["expert_style"] == style
    nominal = SimGenerator(SimSettings(task="pick_place", ranges=RandomizationRanges(level=0.0)))
    assert len({len(nominal.simulate(s).recording) for s in (1, 2, 3)}) == 1  # level 0: the nominal expert


def test_light_quality_is_a_randomization_parameter():
    """Shadows and reflections drawn per episode (seeded, in meta.render), on top of the generator's
    own setting; an episode with shadows renders differently from the same one without."""
    ranges = RandomizationRanges(shadows=0.5, reflections=0.0)
    gen = SimGenerator(SimSettings(task="pick_place", cameras=("front",), image_size=(48, 48), ranges=ranges))
    drawn = [gen.scene_params(s)["effects"]["shadows"] for s in range(40)]
    assert 5 < sum(drawn) < 35 and drawn == [gen.scene_params(s)["effects"]["shadows"] for s in range(40)]
    seed = drawn.index(True)
    run = gen.simulate(seed)
    ep = gen.episode(run)
    assert ep.meta["render"]["shadows"] is True
    a = run.recording.arrays()
    lit = gen.render(run.params, a["qpos"][:2], a["qvel"][:2])["front"]
    flat = gen.render({**run.params, "effects": {"shadows": False}}, a["qpos"][:2], a["qvel"][:2])["front"]
    assert not np.array_equal(lit, flat)


def test_task_state_holds_object_and_target_positions():
    """task.state (what a state-based policy needs): object position and quarter-turn yaw
    features, then target positions; for pick_place the block and the zone."""
    gen = SimGenerator(SimSettings(task="pick_place", cameras=()))
    run = gen.simulate(2)
    ep = gen.episode(run, render=False)
    state = ep.steps["task.state"]
    assert state.shape == (ep.length, 3 + 2 + 3)
    np.testing.assert_allclose(state[:, :3], ep.steps["object.poses"][:, 0, :3], atol=1e-5)
    zone = run.params["task"]["zone"]["xy"]
    np.testing.assert_allclose(state[:, 5:7], np.broadcast_to(zone, (ep.length, 2)), atol=1e-5)
    np.testing.assert_allclose(np.hypot(state[:, 3], state[:, 4]), 1.0, atol=1e-5)


def test_multiplication_turns_box_frames_by_quarter_turns_and_replays_only_the_approach():
    frame = pose_to_mat(np.array([0.5, 0.1, 0.02]), yaw_quat(np.radians(100)))
    turned = nearest_quarter_turn(frame, pose_to_mat(np.zeros(3), yaw_quat(np.radians(5))))
    assert np.degrees(np.arctan2(turned[1, 0], turned[0, 0])) == pytest.approx(10)
    assert np.allclose(turned[:3, 3], frame[:3, 3])
    grip = np.r_[np.ones(60), np.zeros(40)]  # closes at step 60
    assert SourceSegment("grasp", "object:block", 0, 80).replayed(grip) == range(60 - APPROACH_STEPS, 80)
    assert SourceSegment("place", "target:zone", 70, 100).replayed(grip) == range(70, 100)  # no switch: all


def test_seed_range_shards_cover_every_seed_once_for_both_sim_sources():
    from datapipe.generators.sim_config import seed_range_shards, shard_seeds
    from datapipe.stages.generate.rollouts import GenerateRollouts
    from datapipe.stages.generate.sim import GenerateSim

    names = seed_range_shards(10, 12, 5)
    assert names == ["seeds-0000010-0000015", "seeds-0000015-0000020", "seeds-0000020-0000022"]
    assert [s for n in names for s in shard_seeds(n)] == list(range(10, 22))
    sim = GenerateSim(GenerateSim.Config(task="pick_place", episodes=12, seed=10, seeds_per_shard=5, cameras=()))
    assert sim.shards() == names
    rollouts = GenerateRollouts(
        GenerateRollouts.Config(task="pick_place", policy="random", episodes=12, seed=10, seeds_per_shard=5)
    )
    assert rollouts.shards() == names  # two sources of seeds, one naming (the end exclusive)

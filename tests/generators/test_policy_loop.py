"""Closing the loop: evaluate (expert about 100%, random about 0%), the reference trainer
(overfits, resumes exactly), a remote policy over WebSocket, and generate.rollouts."""

from __future__ import annotations

import dataclasses
import json
import threading

import numpy as np
import pytest

from datapipe.cli import main as cli_main
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.shards.manifest import build_manifest
from datapipe.formats.shards.writer import ShardOptions, write_part
from datapipe.generators.evaluate import rollout, wilson_interval
from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.msgpack_numpy import packb, unpackb
from datapipe.generators.policy import RemotePolicy
from datapipe.storage import resolve
from tests.helpers import read_sink


def test_evaluate_gives_the_expert_success_and_a_random_policy_none(tmp_path, capsys):
    out = tmp_path / "expert.json"
    assert cli_main(["evaluate", "--policy", "expert", "--episodes", "3", "--local", "--out", str(out)]) == 0
    expert = json.loads(out.read_text())
    assert expert["success_rate"] == 1.0 and expert["confidence_95"][0] > 0.3 and expert["failure_modes"] == {}
    assert "evaluate: 3/3 in, 3 out, 0 failed" in capsys.readouterr().err  # progress, in a log as plain lines
    assert (
        cli_main(
            ["evaluate", "--policy", "random", "--episodes", "2", "--max-steps", "60", "--local", "--out", str(out)]
        )
        == 0
    )
    random = json.loads(out.read_text())
    assert random["success_rate"] == 0.0 and sum(random["failure_modes"].values()) == 2
    assert "success 0/2" in capsys.readouterr().out
    assert cli_main(["evaluate", "--policy", "nonsense", "--episodes", "1", "--local"]) == 2
    lo, hi = wilson_interval(50, 50)
    assert 0.92 < lo < 1.0 and hi == 1.0
    z, p, n = 1.959964, 46 / 50, 50  # the textbook formula
    centre, half = (
        (p + z * z / (2 * n)) / (1 + z * z / n),
        z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n),
    )
    assert wilson_interval(46, 50) == pytest.approx((centre - half, centre + half), abs=1e-6)


def _dataset(tmp_path, n: int) -> str:
    gen = SimGenerator(SimSettings(task="pick_place", cameras=()))
    runs = [r for r in (gen.simulate(s) for s in range(n + 3)) if r.success][:n]
    eps = [gen.episode(r, render=False) for r in runs]
    receipt = write_part(resolve(tmp_path / "ds"), eps, "part-000000000000000a", ShardOptions(val_fraction=0.0))
    build_manifest(resolve(tmp_path / "ds"), [receipt], 0.0, "")
    return str(tmp_path / "ds")


def test_trainer_overfits_and_resumes_to_the_same_weights(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    ds = _dataset(tmp_path, 2)
    common = [ds, "--batch-size", "32", "--hidden", "256", "--horizon", "1", "--state-keys", "object.poses"]
    common += ["--save-every", "15", "--no-progress"]
    assert cli_main(["train", *common, "--out", str(tmp_path / "a"), "--steps", "300"]) == 0
    saved = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    assert saved["step"] == 300
    # overfits: the trained policy reproduces the training actions closely
    from datapipe.training.policy import load_checkpoint_policy

    policy = load_checkpoint_policy(str(tmp_path / "a"))
    from datapipe.formats.shards.dataset import ShardDataset

    ep = next(iter(ShardDataset(ds).iter_episodes()))
    pred = np.stack(
        [
            policy.predict(
                {"observation.state": ep.steps["observation.state"][t], "object.poses": ep.steps["object.poses"][t]}
            )[0]
            for t in range(0, ep.length, 5)
        ]
    )
    err = np.abs(pred[:, :7] - ep.steps["action"][::5, :7]).mean()
    assert err < 0.05, err
    # interrupted after 45 of 60 steps, resumed: the same weights as 60 steps straight (the cosine
    # learning rate of the 60-step run throughout)
    assert cli_main(["train", *common, "--out", str(tmp_path / "b"), "--steps", "60"]) == 0
    assert cli_main(["train", *common, "--out", str(tmp_path / "c"), "--steps", "60", "--stop-at", "45"]) == 0
    assert torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=False)["step"] == 45
    assert cli_main(["train", *common, "--out", str(tmp_path / "c"), "--steps", "60"]) == 0
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["model"]
    c = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(b[k], c[k]) for k in b)
    # run again on the finished checkpoint: it says so, and trains nothing
    capsys.readouterr()
    assert cli_main(["train", *common, "--out", str(tmp_path / "c"), "--steps", "60"]) == 0
    assert "already trained 60 steps (--steps 60); nothing to do" in capsys.readouterr().out


def test_a_checkpoint_carries_the_chunk_execution_evaluation_uses(tmp_path):
    pytest.importorskip("torch")
    ds = _dataset(tmp_path, 1)
    args = ["train", ds, "--steps", "5", "--horizon", "8", "--no-progress", "--out"]
    assert cli_main([*args, str(tmp_path / "whole")]) == 0
    assert cli_main([*args, str(tmp_path / "six"), "--execute", "6"]) == 0
    from datapipe.generators.policy import CheckpointPolicy

    assert CheckpointPolicy(str(tmp_path / "whole")).spec.execute == 8  # the default 24 of a chunk of 8: all 8
    assert CheckpointPolicy(str(tmp_path / "six")).spec.execute == 6
    assert cli_main([*args, str(tmp_path / "nine"), "--execute", "9"]) == 2  # more than the chunk: said, not cut


def test_train_with_no_flags_observes_what_can_solve_the_task(tmp_path, capsys):
    pytest.importorskip("torch")
    ds = _dataset(tmp_path, 1)
    assert cli_main(["train", ds, "--steps", "2", "--no-progress", "--out", str(tmp_path / "auto")]) == 0
    said = capsys.readouterr().out
    assert "observing observation.state + task.state + ee.pose + timestamp (the task's state is recorded" in said
    meta = json.loads((tmp_path / "auto" / "policy.json").read_text())
    assert meta["config"]["state_keys"] == ["task.state", "ee.pose", "timestamp"]
    assert meta["config"]["horizon"] == 32 and meta["execute"] == 24  # the measured recipe, for evaluate
    # a flag given: only what it names
    assert (
        cli_main(["train", ds, "--steps", "2", "--no-progress", "--state-keys", "none", "--out", str(tmp_path / "s")])
        == 0
    )
    assert "observing" not in capsys.readouterr().out
    assert json.loads((tmp_path / "s" / "policy.json").read_text())["config"]["state_keys"] == []


def test_remote_policy_round_trip_over_websocket():
    from websockets.sync.server import serve

    seen = []

    def handler(connection):
        connection.send(packb({"action_dim": 8, "horizon": 2}))
        for message in connection:
            obs = unpackb(message)
            seen.append(obs)
            state = obs["observation.state"]
            connection.send(packb({"actions": np.stack([np.r_[state[:7], 1.0]] * 2)}))

    with serve(handler, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        policy = RemotePolicy(f"ws://127.0.0.1:{port}")
        gen = SimGenerator(SimSettings(task="pick_place", cameras=()))
        r = rollout(gen, policy, seed=5, max_steps=6, execute=2)
        policy.close()
        server.shutdown()
    assert policy.spec.horizon == 2 and r.length == 6 and not r.success
    assert len(seen) == 3 and seen[0]["observation.state"].dtype == np.float32 and seen[0]["prompt"]
    assert seen[0]["object.poses"].shape == (1, 7)


def test_generate_rollouts_keeps_successes_unless_told(ray_session, tmp_path):
    def run(keep: bool):
        doc = {
            "name": "explore",
            "stages": [
                {
                    "id": "rollouts",
                    "uses": "generate.rollouts",
                    "with": {
                        "policy": "expert:noise=0.004",  # a random walk on the targets: some fail
                        "episodes": 6,
                        "seeds_per_shard": 3,
                        "render": False,
                        "keep_failures": keep,
                        "max_steps": 200,
                    },
                },
                {
                    "id": "out",
                    "uses": "sink.parquet",
                    "needs": ["rollouts"],
                    "with": {"path": str(tmp_path / f"pq{keep}")},
                },
            ],
        }
        result = run_workflow(parse_workflow(doc, "explore.yaml"), out=str(tmp_path / f"run{keep}"), progress=False)
        assert result.ok, result.error
        return read_sink(tmp_path / f"pq{keep}")

    kept, everything = run(False), run(True)
    assert all(e.success for e in kept) and len(everything) == 6
    assert {e.episode_id for e in kept} == {e.episode_id for e in everything if e.success}
    assert any(e.success for e in everything) and any(not e.success for e in everything)
    assert all(e.meta["rollout"]["policy"] == "expert:noise=0.004" for e in everything)
    assert all(e.meta["rollout"]["failure"] for e in everything if not e.success)


def test_learning_rate_follows_a_cosine_from_lr_to_a_hundredth():
    from datapipe.training.trainer import TrainConfig, learning_rate

    cfg = TrainConfig(steps=100, lr=1e-3)
    rates = [learning_rate(cfg, s) for s in range(101)]
    assert rates[0] == pytest.approx(1e-3) and rates[100] == pytest.approx(1e-5)
    assert rates[50] == pytest.approx(0.505e-3) and all(a >= b for a, b in zip(rates, rates[1:]))
    cfg = dataclasses.replace(cfg, lr_schedule="constant")
    assert learning_rate(cfg, 70) == 1e-3


def test_generate_rollouts_runs_a_whole_chunk_before_asking_again():
    from datapipe.generators.policy import PolicySpec
    from datapipe.stages.generate.rollouts import GenerateRollouts, GenerateRolloutsConfig

    class FiveAtATime:
        """The expert's actions, handed out five at a time (a chunking policy)."""

        def __init__(self, expert):
            self.expert, self.calls = expert, 0
            self.spec = PolicySpec(action_dim=expert.spec.action_dim, horizon=5)

        def reset(self, instruction, seed):
            self.expert.reset(instruction, seed)

        def act(self, observation):
            self.calls += 1
            t = int(observation["step"])
            return np.stack([self.expert.act({**observation, "step": t + k})[0] for k in range(5)])

    stage = GenerateRollouts(GenerateRolloutsConfig(policy="expert", episodes=1, render=False, max_steps=300))
    stage.setup()
    stage.policy = FiveAtATime(stage.policy)
    (ep,) = list(stage.read(stage.shards()[0]))
    assert ep.success and stage.policy.calls == -(-ep.length // 5)

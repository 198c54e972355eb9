"""Does datapipe's data train policies? The reference trainer (``datapipe train``) on pick_place
demonstrations with state observations (arm joints, gripper, ``task.state``: block position and
yaw features, zone position), evaluated on held-out seeds with ``datapipe evaluate``'s rollouts:

1. 200 expert demonstrations;
2. 10 expert demonstrations multiplied to 200 by ``multiply.demos``' generator;
3. (2) plus one round of self-exploration: the policy of (2) with noisy actions over new seeds,
   its successful rollouts added to the data.

Targets: (1) at least 80% success on 50 held-out seeds; (2) at least 70% of (1).
``BENCH_USEFULNESS_DEMOS``, ``..._EVAL``, ``..._STEPS`` scale it down for a quick look.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

DEMOS = int(os.environ.get("BENCH_USEFULNESS_DEMOS", "200"))
FEW = int(os.environ.get("BENCH_USEFULNESS_FEW", "10"))
EVAL = int(os.environ.get("BENCH_USEFULNESS_EVAL", "50"))
STEPS = int(os.environ.get("BENCH_USEFULNESS_STEPS", "8000"))
HORIZON = int(os.environ.get("BENCH_USEFULNESS_HORIZON", "32"))  # action chunk predicted
EXECUTE = int(os.environ.get("BENCH_USEFULNESS_EXECUTE", "24"))  # of which executed before asking again
HIDDEN = int(os.environ.get("BENCH_USEFULNESS_HIDDEN", "512"))
KEYS = tuple(os.environ.get("BENCH_USEFULNESS_KEYS", "task.state,ee.pose,timestamp").split(","))  # state inputs
TASK = "pick_place"


def _expert_chunk(seeds: list[int]) -> list:
    from datapipe.generators.generator import SimGenerator, SimSettings

    gen = SimGenerator(SimSettings(task=TASK, cameras=()))
    return [gen.episode(r, render=False) for r in (gen.simulate(s) for s in seeds) if r.success]


def _multiply_chunk(seeds: list[int], sources: list) -> list:
    from datapipe.generators.generator import SimGenerator, SimSettings
    from datapipe.generators.multiply import DemoMultiplier

    mult = DemoMultiplier(SimGenerator(SimSettings(task=TASK, cameras=())))
    kept, _ = mult.multiply(sources, seeds)
    return [mult.episode(run, source, render=False) for run, source in kept]


def _rollout_chunk(seeds: list[int], spec: str, noise: float) -> list:
    from datapipe.generators.evaluate import rollout, rollout_episode
    from datapipe.generators.generator import SimGenerator, SimSettings
    from datapipe.generators.policy import load_policy
    from datapipe.stages.generate.rollouts import NoisyPolicy

    gen = SimGenerator(SimSettings(task=TASK, cameras=()))
    policy = NoisyPolicy(load_policy(spec, SimGenerator(SimSettings(task=TASK, cameras=()))), noise)
    out = []
    for s in seeds:
        r = rollout(gen, policy, s, 400, EXECUTE, record=True)
        if r.success:
            out.append(rollout_episode(gen, r, spec))
    return out


def _parallel(fn, items: list, *extra, workers: int = 2) -> list:
    from datapipe.engine.runners.ray_cluster import map_on_ray

    chunks = [items[i::workers] for i in range(workers)]
    return [e for chunk in map_on_ray(fn, [(c, *extra) for c in chunks if c]) for e in chunk]


def _write(episodes: list, folder: Path) -> str:
    from datapipe.formats.shards.manifest import build_manifest
    from datapipe.formats.shards.writer import ShardOptions, write_part
    from datapipe.storage import resolve

    receipt = write_part(resolve(folder), episodes, "part-00000000000000b1", ShardOptions(val_fraction=0.0))
    build_manifest(resolve(folder), [receipt], 0.0, "")
    return str(folder)


def _train_eval(dataset: str, out: Path, label: str) -> float:
    from datapipe.generators.commands import evaluate
    from datapipe.generators.evaluate import EVAL_SEED_BASE, summarize
    from datapipe.training.trainer import TrainConfig, train

    started = time.perf_counter()
    cfg = TrainConfig(
        dataset=dataset, out=str(out), steps=STEPS, hidden=HIDDEN, horizon=HORIZON, state_keys=KEYS, save_every=STEPS
    )
    train(cfg, progress=False)
    trained = time.perf_counter() - started
    seeds = list(range(EVAL_SEED_BASE, EVAL_SEED_BASE + EVAL))
    result = summarize(evaluate(str(out), TASK, "franka_emika_panda", seeds, execute=EXECUTE))
    lo, hi = result["confidence_95"]
    print(
        f"usefulness [{label}]: success {result['successes']}/{EVAL} = {result['success_rate']:.0%} "
        f"(95% {lo:.0%}..{hi:.0%}; failures {result['failure_modes'] or 'none'}; trained {trained:.0f} s)",
        flush=True,
    )
    return result["success_rate"]


def main() -> None:
    from datapipe.engine.runners.ray_cluster import init_ray

    started_ray = init_ray()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        experts = _parallel(_expert_chunk, list(range(DEMOS + DEMOS // 10)))[:DEMOS]
        full = _train_eval(_write(experts, root / "experts"), root / "ck_experts", f"{len(experts)} expert demos")
        few = experts[:FEW]
        multiplied = few + _parallel(_multiply_chunk, list(range(5_000_000, 5_000_000 + 2 * DEMOS)), few)
        multiplied = multiplied[:DEMOS]
        mult = _train_eval(
            _write(multiplied, root / "multiplied"), root / "ck_mult", f"{FEW} demos multiplied to {len(multiplied)}"
        )
        explored = _parallel(_rollout_chunk, list(range(3_000_000, 3_000_000 + DEMOS)), str(root / "ck_mult"), 0.01)
        both = _train_eval(
            _write(multiplied + explored, root / "explored"),
            root / "ck_explored",
            f"+ {len(explored)} self-exploration successes",
        )
    print(
        f"usefulness: {DEMOS} expert demos {full:.0%} (target >= 80%); {FEW} multiplied {mult:.0%}, "
        f"ratio {mult / max(full, 1e-9):.2f} (target >= 0.70); after self-exploration {both:.0%}; "
        f"{time.perf_counter() - started:.0f} s in all",
        flush=True,
    )
    if started_ray:
        import ray

        ray.shutdown()


if __name__ == "__main__":
    main()

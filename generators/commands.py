"""``datapipe evaluate``: a command of the robotics library, registered with the ``datapipe``
command line through the ``datapipe.commands`` entry point group (the core does not import the
library layers above it).

    datapipe evaluate --policy SPEC --task TASK --episodes N --seed S [--out result.json]
                      [--shift none|visual|language|both[,...]] [--blank-instruction]
                      [--record DATASET] [--videos DIR] [--robot ROBOT] [--local]

``SPEC``: ``expert`` (``expert:noise=RAD`` for noisy actions), a checkpoint folder of
``datapipe train``, or a ``ws://host:port`` policy server. Rollouts run in parallel on Ray (a
chunk of seeds per task), or in this process with ``--local``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datapipe.generators.evaluate import EVAL_SEED_BASE
from datapipe.generators.tasks import task_names


def register(sub: Any) -> None:
    ev = sub.add_parser("evaluate", help="roll out a policy in a simulated task: success rate, lengths, failures")
    ev.add_argument("--policy", required=True, help="expert, expert:noise=RAD, a checkpoint folder, or ws://host:port")
    ev.add_argument("--task", default="pick_place", choices=task_names(), help="the simulated task")
    ev.add_argument("--episodes", type=int, default=50, help="rollouts, one per seed")
    ev.add_argument("--seed", type=int, default=EVAL_SEED_BASE, help=f"first seed (default {EVAL_SEED_BASE}: held out)")
    ev.add_argument("--robot", default="franka_emika_panda", help="built-in robot or robot config YAML")
    ev.add_argument("--max-steps", type=int, default=400, help="steps before a rollout counts as failed")
    ev.add_argument(
        "--execute",
        type=int,
        default=0,
        help="actions of each chunk run before asking again (default 0: the checkpoint's own, else the whole chunk)",
    )
    ev.add_argument(
        "--shift",
        default="none",
        metavar="NAME[,NAME]",
        help="scenes and instructions held out from training: none, visual, language or both; several "
        "comma-separated are evaluated on the same seeds (see datapipe.generators.shift)",
    )
    ev.add_argument(
        "--blank-instruction", action="store_true", help="give the policy an empty instruction (does it read?)"
    )
    ev.add_argument("--out", help="write the result JSON here")
    ev.add_argument("--record", metavar="DATASET", help="write the rollouts as a shard dataset here")
    ev.add_argument("--videos", metavar="DIR", help="write one front-camera mp4 per rollout here")
    ev.add_argument("--local", action="store_true", help="run in this process, without Ray")
    ev.set_defaults(handler=run)


def _generator(
    task: str,
    robot: str,
    cameras: tuple[str, ...] = (),
    image_size: tuple[int, int] | None = None,
    shift: str = "none",
):
    from datapipe.generators.generator import SimGenerator, SimSettings
    from datapipe.generators.robots.registry import resolve_robot

    settings = SimSettings(task=task, cameras=cameras or ("front",), shift=shift)
    if image_size is not None:
        settings = dataclasses.replace(settings, image_size=tuple(image_size))
    return SimGenerator(settings, resolve_robot(robot))


def evaluate_seeds(
    spec: str,
    task: str,
    robot: str,
    seeds: list[int],
    max_steps: int,
    execute: int,
    record: bool,
    on_rollout: Callable[[list], None] | None = None,
    shift: str = "none",
    blank_instruction: bool = False,
):
    """Rollouts of ``seeds`` (one worker's share) in scenes of ``shift``; ``on_rollout([rollout])``
    after each."""
    from datapipe.generators.evaluate import rollout, sim_cameras
    from datapipe.generators.policy import load_policy

    reference = _generator(task, robot)
    policy = load_policy(spec, reference)
    # a policy that sees renders its cameras (or those they were standardized from) at the size
    # its training data was rendered at
    views = sim_cameras(reference, policy.spec.cameras, policy.spec.camera_sources)
    gen = _generator(task, robot, tuple(dict.fromkeys(views.values())), policy.spec.render_size, shift)
    try:
        execute = execute or policy.spec.execute or max(1, policy.spec.horizon)
        done = []
        for s in seeds:
            done.append(rollout(gen, policy, s, max_steps, execute, record, blank_instruction=blank_instruction))
            if on_rollout is not None:
                on_rollout(done[-1:])
        return done
    finally:
        getattr(policy, "close", lambda: None)()


def evaluate(
    spec: str,
    task: str,
    robot: str,
    seeds: list[int],
    max_steps: int = 400,
    execute: int = 1,
    record: bool = False,
    local: bool = False,
    on_rollouts: Callable[[list], None] | None = None,
    shift: str = "none",
    blank_instruction: bool = False,
) -> list:
    """Rollouts of ``seeds``, in this process (``local``) or as Ray tasks of a few seeds each;
    ``on_rollouts(rollouts)`` is called as they finish (progress)."""
    if local or len(seeds) <= 1:
        args = (spec, task, robot, seeds, max_steps, execute, record, on_rollouts, shift, blank_instruction)
        return evaluate_seeds(*args)
    from datapipe.engine.runners.ray_cluster import available_cpus, map_on_ray

    workers = max(1, min(len(seeds), available_cpus()))
    pieces = min(len(seeds), workers * 4)  # several per worker: progress comes in steps
    chunks = [seeds[i::pieces] for i in range(pieces)]
    calls = [(spec, task, robot, c, max_steps, execute, record, None, shift, blank_instruction) for c in chunks if c]
    done = None if on_rollouts is None else (lambda _i, chunk: on_rollouts(chunk))
    results = map_on_ray(evaluate_seeds, calls, on_result=done)
    return sorted((r for chunk in results for r in chunk), key=lambda r: r.seed)


def run(args: argparse.Namespace) -> int:
    from datapipe.errors import DatapipeError
    from datapipe.generators.evaluate import rollout_episode, summarize

    if args.episodes < 1:
        raise DatapipeError(f"--episodes must be >= 1, got {args.episodes}")
    if args.execute < 0:
        raise DatapipeError(f"--execute must be >= 0 (0: the checkpoint's own), got {args.execute}")
    from datapipe.generators.shift import held_out_space, parts

    shifts = [x.strip() for x in args.shift.split(",") if x.strip()] or ["none"]
    reference = _generator(args.task, args.robot)
    for name in shifts:  # refused before anything runs: an unknown name, a task without held-out wording
        if parts(name)["language"] and not reference.task.held_out_templates:
            raise DatapipeError(f"--shift {name}: task {args.task} has no held-out instructions")
    seeds = list(range(args.seed, args.seed + args.episodes))
    from datapipe.engine.progress import ProgressBoard

    names = ["evaluate"] if len(shifts) == 1 else [f"evaluate {x}" for x in shifts]  # one shift: the plain name
    board = ProgressBoard(names, {n: f"evaluate ({args.task}, shift {x})" for n, x in zip(names, shifts)})
    for n in names:
        board.set_total(n, len(seeds))
    per_shift: dict[str, dict] = {}
    first_rollouts: list = []
    with board:
        for n, shift in zip(names, shifts):

            def progress(rollouts: list, n: str = n) -> None:  # in: rollouts done, out: successes, failed: failures
                wins = sum(1 for r in rollouts if r.success)
                board.report(n, len(rollouts), wins, len(rollouts) - wins)

            rollouts = evaluate(
                args.policy,
                args.task,
                args.robot,
                seeds,
                args.max_steps,
                args.execute,
                record=bool(args.record or args.videos) and not first_rollouts,
                local=args.local,
                on_rollouts=progress,
                shift=shift,
                blank_instruction=args.blank_instruction,
            )
            first_rollouts = first_rollouts or rollouts
            held_out = held_out_space(shift, reference.settings.ranges, reference.task)
            per_shift[shift] = {**summarize(rollouts), "held_out": held_out}
    rollouts = first_rollouts
    result = {
        "policy": args.policy,
        "task": args.task,
        "robot": args.robot,
        "blank_instruction": args.blank_instruction,
        **per_shift[shifts[0]],
        "shift": shifts[0],
        "shifts": per_shift,
    }
    for shift, r in per_shift.items():
        lo, hi = r["confidence_95"]
        print(
            f"{args.policy} on {args.task} (shift {shift}): success {r['successes']}/{r['episodes']} "
            f"= {r['success_rate']:.0%} "
            f"(95% interval {lo:.0%} to {hi:.0%}), mean length {r['length']['mean']:.0f} steps, "
            f"failures {r['failure_modes'] or 'none'}"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    if args.record or args.videos:
        gen = _generator(args.task, args.robot, shift=shifts[0])
        episodes = [rollout_episode(gen, r, args.policy, render=True) for r in rollouts]
        if args.record:
            from datapipe.formats.shards.manifest import build_manifest
            from datapipe.formats.shards.writer import ShardOptions, write_part
            from datapipe.storage import resolve

            receipt = write_part(resolve(args.record), episodes, "part-00000000000e7a1", ShardOptions(val_fraction=0.0))
            build_manifest(resolve(args.record), [receipt], 0.0, "")
        if args.videos:
            Path(args.videos).mkdir(parents=True, exist_ok=True)
            for ep in episodes:
                status = "success" if ep.success else "failure"
                (Path(args.videos) / f"seed{ep.meta['seed']}-{status}.mp4").write_bytes(ep.cameras["front"].data[0])
    return 0

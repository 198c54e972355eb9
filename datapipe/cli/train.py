"""``datapipe train DATASET --out CKPT``: the command of the reference trainer
(:mod:`datapipe.training.trainer`). Every flag's default is :class:`TrainConfig`'s."""

from __future__ import annotations

import argparse
from typing import Any

from datapipe.training.trainer import TrainConfig, train


def register(sub: Any) -> None:
    from dataclasses import fields

    defaults = {f.name: f.default for f in fields(TrainConfig)}
    tr = sub.add_parser("train", help="a small reference behaviour-cloning trainer on a shard dataset")
    tr.add_argument("dataset", help="a shard dataset (index.json)")
    tr.add_argument("--out", required=True, help="checkpoint folder (resumed if it holds one)")
    for name in ("steps", "batch-size", "hidden", "horizon", "execute", "seed", "save-every", "stop-at", "image-size"):
        tr.add_argument(f"--{name}", type=int, default=defaults[name.replace("-", "_")])
    tr.add_argument("--lr", type=float, default=defaults["lr"])
    tr.add_argument("--lr-schedule", default=defaults["lr_schedule"], choices=("cosine", "constant"))
    chosen = "default: chosen from the dataset when neither --state-keys nor --camera is given"
    tr.add_argument(
        "--state-keys",
        default=None,
        help=f"step arrays observed besides the state, comma-separated, or none ({chosen})",
    )
    tr.add_argument("--camera", default=None, help=f"a camera seen through a small CNN ({chosen})")
    tr.add_argument("--no-progress", action="store_true")
    tr.set_defaults(handler=_run)


def _observations(args: argparse.Namespace) -> tuple[tuple[str, ...], str]:
    """The state keys and camera the flags name, else those chosen from the dataset (printed)."""
    from datapipe.formats.shards.dataset import ShardDataset
    from datapipe.training.inputs import check_inputs, choose_observations, describe_choice

    features = ShardDataset(args.dataset).features
    if args.state_keys is None and args.camera is None:
        choice = choose_observations(features)
        print(describe_choice(choice), flush=True)
        return choice.state_keys, choice.camera
    keys = tuple(k for k in (args.state_keys or "").split(",") if k and k != "none")
    check_inputs(args.dataset, features, args.camera or "", keys)
    return keys, args.camera or ""


def _run(args: argparse.Namespace) -> int:
    from datapipe.errors import DatapipeError

    if args.execute > args.horizon:
        if args.execute != TrainConfig.execute:
            raise DatapipeError(f"--execute {args.execute}: more than the --horizon of {args.horizon} actions")
        args.execute = 0  # the default 24 of a shorter horizon: the whole chunk
    state_keys, camera = _observations(args)
    cfg = TrainConfig(
        dataset=args.dataset,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        hidden=args.hidden,
        horizon=args.horizon,
        execute=args.execute,
        seed=args.seed,
        save_every=args.save_every,
        stop_at=args.stop_at,
        state_keys=state_keys,
        camera=camera,
        image_size=args.image_size,
    )
    result = train(cfg, progress=not args.no_progress)
    if result["steps_run"] == 0:
        print(
            f"{result['checkpoint']}: already trained {result['step']} steps (--steps {cfg.steps}); nothing to do "
            f"(raise --steps to train on, or give another --out)"
        )
    else:
        print(f"trained {result['step']} steps, last loss {result['loss']:.5f}: {result['checkpoint']}")
    return 0

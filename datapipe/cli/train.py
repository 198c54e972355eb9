"""``datapipe train DATASET --out CKPT``: the command of the reference trainer
(:mod:`datapipe.training.trainer`). Every flag's default is :class:`TrainConfig`'s."""

from __future__ import annotations

import argparse
from typing import Any

from datapipe.config import ConfigError
from datapipe.errors import DatapipeError
from datapipe.training.trainer import TrainConfig, train

CHOSEN = "default: chosen from the dataset when neither --state-keys nor --camera is given"


def register(sub: Any) -> None:
    """Every field of :class:`TrainConfig` is a flag, its help the field's comment."""
    import typing
    from dataclasses import fields

    from datapipe.config import field_help

    helps = field_help(TrainConfig)
    hints = typing.get_type_hints(TrainConfig)
    tr = sub.add_parser("train", help="a small reference behaviour-cloning trainer on a shard dataset")
    tr.add_argument("dataset", help=helps["dataset"])
    tr.add_argument("--out", required=True, help=helps["out"])
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name in ("dataset", "out"):
            continue
        if f.name == "state_keys":
            tr.add_argument(flag, default=None, help=f"{helps[f.name]}, comma-separated, or none ({CHOSEN})")
        elif f.name == "camera":
            tr.add_argument(flag, default=None, help=f"{helps[f.name]} ({CHOSEN})")
        elif typing.get_origin(hints[f.name]) is typing.Literal:
            tr.add_argument(flag, default=f.default, choices=typing.get_args(hints[f.name]), help=helps[f.name])
        elif hints[f.name] is bool:
            tr.add_argument(flag, action="store_true", help=helps[f.name])
        elif typing.get_origin(hints[f.name]) is tuple:
            tr.add_argument(flag, default=None, metavar="A,B", help=f"{helps[f.name]}, comma-separated")
        elif hints[f.name] is str:
            tr.add_argument(flag, default=f.default, help=helps[f.name])
        else:
            tr.add_argument(flag, type=type(f.default), default=f.default, help=helps[f.name])
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.set_defaults(handler=_run)


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


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
    from dataclasses import fields, replace

    if args.execute > args.horizon:
        if args.execute != TrainConfig.execute:
            raise DatapipeError(f"--execute {args.execute}: more than the --horizon of {args.horizon} actions")
        args.execute = 0  # the default 24 of a shorter horizon: the whole chunk
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name not in ("state_keys", "camera")}
    given["cameras"] = _names(args.cameras or "")
    given["aux_keys"] = _names(args.aux_keys or "")
    cfg = TrainConfig(**given)
    try:
        cfg.check_run()
    except ConfigError as exc:
        raise DatapipeError(f"--{exc.field.replace('_', '-')}: {str(exc).removeprefix(exc.field + ': ')}") from None
    if cfg.preset == "vision-language":
        if args.camera:
            raise DatapipeError("--camera is the state preset's one camera; the vision-language preset takes --cameras")
        state_keys = tuple(k for k in (args.state_keys or "").split(",") if k and k != "none")
        camera = ""
    else:
        state_keys, camera = _observations(args)
    cfg = replace(cfg, state_keys=state_keys, camera=camera)
    result = train(cfg, progress=not args.no_progress)
    if result["steps_run"] == 0:
        print(
            f"{result['checkpoint']}: already trained {result['step']} steps (--steps {cfg.steps}); nothing to do "
            f"(raise --steps to train on, or give another --out)"
        )
    else:
        print(
            f"trained {result['step']} steps, last loss {result['loss']:.5f}, data wait "
            f"{100 * result['data_wait']:.0f}% of step time: {result['checkpoint']}"
        )
    return 0

"""``train.bc``: train the reference behaviour-cloning policy (:mod:`datapipe.training.trainer`) on the episodes
that reach this stage, and optionally evaluate it on held-out seeds of a simulated task.

A sink: its episodes are written as shards to ``PATH/shards`` (as ``sink.webdataset`` writes them),
then ``finalize`` trains a checkpoint into ``PATH/policy`` (a folder ``datapipe evaluate`` and
``generate.rollouts`` take as a policy) and, with ``evaluate > 0``, rolls it out (success rate with
its 95% interval in the result). A later stage that names this one in ``after`` starts once the
checkpoint exists: self-exploration with a policy trained on the fly, inside one workflow.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from datapipe.config import check
from datapipe.engine.stage import Resources, SinkStage
from datapipe.errors import DatapipeError
from datapipe.formats.ownership import OwnedOutput
from datapipe.formats.shards.manifest import build_manifest
from datapipe.formats.shards.writer import ShardOptions, write_part
from datapipe.generators.evaluate import EVAL_SEED_BASE
from datapipe.generators.robots.registry import DEFAULT_ROBOT
from datapipe.generators.tasks import TaskName
from datapipe.records import Episode
from datapipe.storage import resolve
from datapipe.training.trainer import TrainSettings
from datapipe.wording import counted


@dataclass(frozen=True)
class TrainBcConfig(TrainSettings):
    # output folder (local path): shards/ holds the training episodes, policy/ the checkpoint
    path: str = ""
    # write into a non-empty folder that this stage did not write
    overwrite: bool = False
    # step arrays added to observation.state as inputs (task.state, ee.pose, timestamp...); unset:
    # chosen from the episodes as datapipe train does (the task's state, else object poses), [] none
    state_keys: tuple[str, ...] | None = None
    # roll the trained policy out on this many held-out seeds (0: no evaluation)
    evaluate: int = 0
    # simulated task of the evaluation: pick_place, stack, push or open_drawer
    task: TaskName = "pick_place"
    # robot of the evaluation (built-in name or robot config YAML)
    robot: str = DEFAULT_ROBOT
    # first evaluation seed (held out from generate.sim's and generate.rollouts' seeds)
    eval_seed: int = EVAL_SEED_BASE
    # control steps before an evaluation rollout counts as a failure
    max_steps: int = 400
    # state (an MLP on step arrays) or vision-language (the cameras, the instruction and
    # observation.state; see datapipe train --preset)
    preset: Literal["state", "vision-language"] = "state"
    # vision-language: cameras seen (empty: every camera the episodes hold)
    cameras: tuple[str, ...] = ()
    # vision-language: pixels square the images are resized to
    image_size: int = 64
    # vision-language: DataLoader worker processes decoding the shards' videos
    loader_workers: int = 0

    def __post_init__(self) -> None:
        check(bool(self.path), "path", "give the output folder")
        self.check_settings()
        check(self.evaluate >= 0, "evaluate", f"must be >= 0, got {self.evaluate}")


class TrainBc(SinkStage):
    """Train a behaviour-cloning policy on the episodes that reach it (checkpoint in PATH/policy),
    and evaluate it on held-out seeds of a simulated task when asked."""

    name = "train.bc"
    version = "1"
    Config = TrainBcConfig
    name_or_path_fields = ("robot",)
    resources = Resources(cpus=1)
    fusable = False
    default_batch_size = 256

    def write(self, episodes: list[Episode], part: str) -> dict[str, Any]:
        shards = resolve(self.config.path).join("shards")
        return write_part(shards, episodes, part, ShardOptions(val_fraction=0.0), reject=self.reject)

    def finalize(self, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        from datapipe.training.model import CHECKPOINT, POLICY
        from datapipe.training.trainer import TrainConfig, train

        c = self.config
        root = resolve(c.path)
        manifest = build_manifest(root.join("shards"), receipts, 0.0, "")
        if not manifest["episodes"]:
            raise DatapipeError(f"{c.path}: no episodes reached train.bc; nothing to train on")
        checkpoint = root.join("policy")
        for name in (CHECKPOINT, POLICY):  # a fresh policy for these episodes, not a resume
            if checkpoint.join(name).exists():
                checkpoint.join(name).delete()
        keys = c.state_keys
        if keys is None and c.preset == "vision-language":  # it sees; nothing privileged
            keys = ()
        if keys is None:  # what can solve the task, from the episodes that arrived
            from datapipe.training.inputs import choose_observations

            keys = choose_observations(manifest["features"]).state_keys
        settings = {f.name: getattr(c, f.name) for f in fields(TrainSettings)}
        cfg = TrainConfig(
            **{**settings, "execute": min(c.execute, c.horizon)},
            dataset=root.join("shards").uri,
            out=checkpoint.uri,
            state_keys=tuple(keys),
            save_every=c.steps,
            preset=c.preset,
            cameras=tuple(c.cameras),
            image_size=c.image_size,
            loader_workers=c.loader_workers,
        )
        trained = train(cfg, progress=False)
        result: dict[str, Any] = {
            "path": root.uri,
            "checkpoint": checkpoint.uri,
            "episodes": manifest["episodes"],
            "frames": manifest["frames"],
            "steps": trained["step"],
            "loss": round(trained["loss"], 6),
            "observed": ["observation.state", *keys] + (["cameras", "instruction"] if c.preset != "state" else []),
            "preset": c.preset,
        }
        if c.evaluate:
            result["evaluation"] = self._evaluate(checkpoint.uri)
        shards = {f"shards/{f}" for f in OwnedOutput(root.join("shards")).files()}
        OwnedOutput(root).complete({f"policy/{CHECKPOINT}", f"policy/{POLICY}", *shards})
        return result

    def _evaluate(self, checkpoint: str) -> dict[str, Any]:
        from datapipe.engine.runners.ray_cluster import ray_running
        from datapipe.generators.commands import evaluate
        from datapipe.generators.evaluate import summarize

        c = self.config
        seeds = list(range(c.eval_seed, c.eval_seed + c.evaluate))
        # execute 0: what the checkpoint was trained for (policy.json's execute), decided once, in the trainer
        rollouts = evaluate(checkpoint, c.task, c.robot, seeds, c.max_steps, 0, local=not ray_running())
        summary = summarize(rollouts)
        return {"task": c.task, **{k: v for k, v in summary.items() if k != "per_episode"}}

    @classmethod
    def describe(cls, result: dict[str, Any]) -> list[str]:
        lines = [
            f"{'' if result.get('preset', 'state') == 'state' else result['preset'] + ' '}"
            f"policy: trained {result['steps']} steps on {counted(result['episodes'], 'episode')} "
            f"({result['frames']} frames), loss {result['loss']:.4f}: {result['checkpoint']}"
        ]
        ev = result.get("evaluation")
        if ev:
            lo, hi = ev["confidence_95"]
            lines.append(
                f"evaluation: it succeeds in {ev['successes']}/{ev['episodes']} held-out {ev['task']} scenes "
                f"({ev['success_rate']:.0%}, 95% interval {lo:.0%}..{hi:.0%})"
            )
        return lines

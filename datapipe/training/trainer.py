"""``datapipe train DATASET --out CKPT``: a small reference behaviour-cloning trainer (PyTorch).

It exists to measure data, not to compete with LeRobot's trainers. The policy is an MLP on the
state (``observation.state`` and any ``--state-keys`` such as ``object.poses``, concatenated;
optionally a small CNN on one ``--camera``) predicting a chunk of ``--horizon`` actions. Data is
streamed from the shards with :class:`~datapipe.training.torch_dataset.TorchShardDataset` (state and
actions normalized with the manifest's mean and std); the loss is the mean squared error over
the chunk's real (not padded) steps.

Checkpoints (``CKPT/checkpoint.pt`` and ``CKPT/policy.json``) hold the weights, the optimizer,
the step, the torch random state and the stream's position, written atomically every
``--save-every`` steps and at the end; run the same command again after an interruption and it
resumes exactly: the weights equal those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from datapipe.training.model import CHECKPOINT, POLICY, torch_module


@dataclass(frozen=True)
class TrainSettings:
    """The trainer's hyperparameters, shared by ``datapipe train`` (its flags), :class:`TrainConfig`
    and the ``train.bc`` stage. The defaults are the recipe of ``python -m benchmarks usefulness``
    (92% on pick_place from 200 demonstrations with task.state, ee.pose and timestamp observed)."""

    # optimizer steps
    steps: int = 8000
    # windows (an observation and its action chunk) per batch
    batch_size: int = 256
    # Adam learning rate
    lr: float = 1e-3
    # cosine (from lr down to lr/100 at the last step) or constant
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    # width of the MLP's hidden layers
    hidden: int = 512
    # actions predicted per observation (an action chunk)
    horizon: int = 32
    # actions of each chunk a rollout runs before asking again (0: the whole chunk; at most horizon)
    execute: int = 24
    # seed of the initialization and of the data order
    seed: int = 0

    def check_settings(self) -> None:
        """Raise :class:`~datapipe.config.ConfigError` naming the first field out of range."""
        from datapipe.config import check

        check(self.steps >= 1, "steps", f"must be >= 1, got {self.steps}")
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        check(
            self.lr_schedule in ("cosine", "constant"), "lr_schedule", f"cosine or constant, got {self.lr_schedule!r}"
        )
        check(self.hidden >= 1, "hidden", f"must be >= 1, got {self.hidden}")
        check(self.horizon >= 1, "horizon", f"must be >= 1, got {self.horizon}")
        check(self.execute >= 0, "execute", f"must be >= 0 (0: the whole chunk), got {self.execute}")


@dataclass(frozen=True)
class TrainConfig(TrainSettings):
    """One training run: the settings, the dataset and the checkpoint folder, and what is observed."""

    # a shard dataset (index.json)
    dataset: str = ""
    # checkpoint folder (resumed if it holds one)
    out: str = ""
    # step arrays observed besides observation.state (object.poses, task.state...)
    state_keys: tuple[str, ...] = ()
    # a camera seen through a small CNN ("": none)
    camera: str = ""
    # the camera's images are resized to this many pixels square
    image_size: int = 64
    # steps between checkpoints
    save_every: int = 500
    # stop after this step (an interruption on purpose; the schedule is still that of steps; 0: none)
    stop_at: int = 0
    # state: an MLP on step arrays (and optionally one --camera); vision-language: the cameras, the
    # instruction and observation.state (datapipe.training.vision_language)
    preset: Literal["state", "vision-language"] = "state"
    # cameras the vision-language preset sees (default: every camera the dataset holds)
    cameras: tuple[str, ...] = ()
    # vision-language: pixels each training image is shifted by at most (random shift; 0: none)
    shift_px: int = 4
    # vision-language: accept privileged simulator arrays (task.state, object.poses, sim.*) in --state-keys
    allow_privileged: bool = False
    # vision-language: step arrays the network learns to predict from its keypoints, the state and
    # the instruction during training only, and its head reads that guess (an auxiliary loss; never
    # observed, so a privileged array such as task.state may be named: it teaches the keypoints
    # where the named block and the zone are)
    aux_keys: tuple[str, ...] = ()
    # weight of the auxiliary loss (mean squared error of the normalized arrays) beside the action loss
    aux_weight: float = 1.0
    # a checkpoint folder whose weights of the same names and shapes start this run (pretrained
    # camera encoders, say; word embeddings only if its vocabulary is this run's; "": none). A
    # resumed run ignores it
    init_from: str = ""
    # DataLoader worker processes that read and decode the shards (0: in the training process)
    loader_workers: int = 0
    # samples each loader worker shuffles among (more mixes more episodes into each batch; each
    # vision sample holds its frames, about 12 KiB per 64x64 camera)
    shuffle_buffer: int = 2000

    def check_run(self) -> None:
        """:meth:`check_settings` and the run's own fields."""
        from datapipe.config import check

        self.check_settings()
        check(self.image_size >= 16, "image_size", f"must be >= 16 pixels, got {self.image_size}")
        check(self.shift_px >= 0, "shift_px", f"must be >= 0, got {self.shift_px}")
        check(self.loader_workers >= 0, "loader_workers", f"must be >= 0, got {self.loader_workers}")
        check(self.shuffle_buffer >= 1, "shuffle_buffer", f"must be >= 1, got {self.shuffle_buffer}")
        check(self.aux_weight >= 0, "aux_weight", f"must be >= 0, got {self.aux_weight}")
        check(
            not self.aux_keys or self.preset == "vision-language",
            "aux_keys",
            "only the vision-language preset has an auxiliary head",
        )


def _state(batch: dict[str, Any], cfg: TrainConfig) -> Any:
    """``observation.state`` and the ``state_keys`` arrays of a batch, flattened side by side."""
    torch = torch_module()
    n = len(batch["observation.state"])
    parts = [batch["observation.state"].float()] + [batch[k].float().reshape(n, -1) for k in cfg.state_keys]
    return torch.cat(parts, dim=-1)


def _stats(dataset: str, keys: tuple[str, ...]) -> dict[str, list[float]]:
    from datapipe.formats.shards.dataset import ShardDataset

    st = ShardDataset(dataset).stats
    # arrays without statistics (timestamp) are used as they are (mean 0, std 1)
    return {k: st.get(k, {"mean": [0.0], "std": [1.0]}) for k in keys}


def train(cfg: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) and return the last step's loss, where the checkpoint is, and the share
    of the step time spent waiting for data (``data_wait``)."""
    import time

    torch = torch_module()
    from datapipe.formats.shards.dataset import ShardDataset
    from datapipe.training.presets import preset_for_training
    from datapipe.training.torch_dataset import TorchShardDataset

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    saved_meta = json.loads((out / POLICY).read_text()) if (out / POLICY).is_file() else None
    preset = preset_for_training(cfg, ShardDataset(cfg.dataset), saved_meta)
    arrays = tuple(dict.fromkeys((*cfg.state_keys, *cfg.aux_keys)))  # step arrays besides state and action
    stream_kw = dict(
        split="train",
        action_horizon=cfg.horizon,
        normalize="mean_std",
        seed=cfg.seed,
        shuffle_buffer=cfg.shuffle_buffer,
        extra_steps=arrays,
        **preset.stream_kw(),
    )
    ds = TorchShardDataset(cfg.dataset, **stream_kw)
    extra = _stats(cfg.dataset, arrays)
    first = next(iter(ds))
    state_dim = int(first["observation.state"].numel()) + sum(int(first[k].numel()) for k in cfg.state_keys)
    action_dim = int(first["action"].shape[-1])
    if cfg.aux_keys:
        preset.aux_dim = sum(int(first[k].numel()) for k in cfg.aux_keys)
    ds = TorchShardDataset(cfg.dataset, **stream_kw)
    model = preset.build(state_dim, action_dim * cfg.horizon, cfg.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step, epoch, batches = 0, 0, 0
    workers = cfg.loader_workers
    ckpt = out / CHECKPOINT
    if cfg.init_from and not ckpt.exists():
        _init_from(model, Path(cfg.init_from), preset.vocabulary)
    if ckpt.exists():  # resume exactly where the last checkpoint left off
        saved = torch.load(ckpt, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        step, epoch, batches = saved["step"], saved["epoch"], saved["batches"]
        ds.set_epoch(epoch)
        if batches:
            ds.load_state_dict(saved["loader"])
    mean_extra = {k: np.asarray(v["mean"], np.float32) for k, v in extra.items()}
    std_extra = {k: np.maximum(np.asarray(v["std"], np.float32), 1e-6) for k, v in extra.items()}

    def save() -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "step": step,
            "epoch": epoch,
            "batches": batches,
            "loader": _position(cfg.dataset, stream_kw, epoch, batches, cfg.batch_size, workers) if batches else None,
        }
        tmp = out / f".{CHECKPOINT}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, ckpt)
        st = ds._stream.dataset.stats
        meta = {
            "config": {
                **asdict(cfg),
                "state_keys": list(cfg.state_keys),
                "cameras": list(cfg.cameras),
                "aux_keys": list(cfg.aux_keys),
            },
            **preset.meta(),
            "state_dim": state_dim,
            "action_dim": action_dim,
            "stats": {
                "observation.state": {k: st["observation.state"][k] for k in ("mean", "std")},
                "action": {k: st["action"][k] for k in ("mean", "std")},
                **{k: {"mean": mean_extra[k].tolist(), "std": std_extra[k].tolist()} for k in extra},
            },
            "step": step,
            "execute": cfg.execute or cfg.horizon,  # what evaluation runs per chunk unless told
        }
        tmp_meta = out / f".{POLICY}.tmp"
        tmp_meta.write_text(json.dumps(meta, indent=1))
        os.replace(tmp_meta, out / POLICY)

    loss_value, first_step = float("nan"), step
    end = min(cfg.steps, cfg.stop_at) if cfg.stop_at else cfg.steps
    waited = busy = 0.0
    bar = None
    if progress:
        from rich.progress import BarColumn, Progress, TextColumn

        bar = Progress(
            TextColumn("train"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} loss {task.fields[loss]} data wait {task.fields[wait]}"),
        )
        bar.start()
        task = bar.add_task("train", total=cfg.steps, completed=step, loss="-", wait="-")
    try:
        while step < end:
            loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, num_workers=workers)
            batches_of = iter(loader)
            while True:
                t0 = time.perf_counter()
                batch = next(batches_of, None)
                t1 = time.perf_counter()
                if batch is None:
                    break
                for k in extra:
                    batch[k] = (batch[k] - torch.from_numpy(mean_extra[k])) / torch.from_numpy(std_extra[k])
                state = _state(batch, cfg)
                target = batch["action"].float().reshape(len(state), cfg.horizon, action_dim)
                pad = batch["action_is_pad"].reshape(len(state), cfg.horizon, 1).float()
                if cfg.aux_keys:
                    pred, aux_pred = preset.forward(model, batch, state, train=True, aux=True)
                else:
                    pred = preset.forward(model, batch, state, train=True)
                pred = pred.reshape(len(state), cfg.horizon, action_dim)
                loss = (((pred - target) ** 2) * (1 - pad)).sum() / ((1 - pad).sum() * action_dim).clamp(min=1)
                if cfg.aux_keys:
                    aux_target = torch.cat([batch[k].float().reshape(len(state), -1) for k in cfg.aux_keys], dim=-1)
                    loss = loss + cfg.aux_weight * ((aux_pred - aux_target) ** 2).mean()
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(cfg, step)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step, batches, loss_value = step + 1, batches + 1, float(loss.item())
                waited, busy = waited + (t1 - t0), busy + (time.perf_counter() - t0)
                if bar is not None:
                    bar.update(task, completed=step, loss=f"{loss_value:.4f}", wait=f"{100 * waited / busy:.0f}%")
                if step % cfg.save_every == 0 or step >= end:
                    save()
                if step >= end:
                    break
            if step >= end:
                break
            epoch, batches = epoch + 1, 0  # the epoch ran out before the steps did
            ds.set_epoch(epoch)
    finally:
        if bar is not None:
            bar.stop()
    save()
    return {
        "step": step,
        "loss": loss_value,
        "checkpoint": str(out),
        "steps_run": step - first_step,
        "data_wait": round(waited / busy, 4) if busy else 0.0,
    }


def _init_from(model: Any, folder: Path, vocabulary: Any) -> None:
    """Copy into ``model`` every weight of the checkpoint in ``folder`` with the same name and
    shape; the word embeddings and FiLM maps only when its vocabulary is ``vocabulary`` (the same
    shape over other words would mean other words)."""
    from datapipe.errors import DatapipeError

    torch = torch_module()
    if not (folder / CHECKPOINT).is_file():
        raise DatapipeError(f"--init-from: {folder / CHECKPOINT} does not exist")
    saved = torch.load(folder / CHECKPOINT, weights_only=False)["model"]
    meta = json.loads((folder / POLICY).read_text()) if (folder / POLICY).is_file() else {}
    same_words = vocabulary is not None and meta.get("vocabulary") == list(vocabulary.tokens)
    own = model.state_dict()
    same = {
        k: v
        for k, v in saved.items()
        if k in own and own[k].shape == v.shape and (same_words or not k.startswith(("words.", "film.")))
    }
    if not same:
        raise DatapipeError(f"--init-from: {folder} shares no weight (name and shape) with this network")
    model.load_state_dict(same, strict=False)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """The learning rate of ``step`` (0-based): constant, or a cosine from ``lr`` to ``lr / 100``."""
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule != "cosine":
        from datapipe.errors import DatapipeError

        raise DatapipeError(f"lr_schedule {cfg.lr_schedule!r}: expected cosine or constant")
    progress = min(1.0, step / max(1, cfg.steps))
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * progress)))


def _position(
    dataset: str, stream_kw: dict[str, Any], epoch: int, batches: int, batch_size: int, workers: int
) -> dict[str, Any]:
    """The loader state after ``batches`` batches of ``epoch`` from ``workers`` loader workers,
    counted from the epoch's start."""
    from datapipe.training.torch_dataset import TorchShardDataset

    fresh = TorchShardDataset(dataset, **stream_kw)
    fresh.set_epoch(epoch)
    return fresh.loader_state(batches, batch_size, workers)

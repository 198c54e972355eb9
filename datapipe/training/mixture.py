"""``datapipe.training.mixture``: training samples from several shard datasets, mixed by weight.

:class:`MixtureStream` draws each sample's dataset from the mixture weights, then takes that
dataset's next sample from its own :class:`~datapipe.training.stream.ShardStream` (which moves on to its
next epoch when it runs out, so small datasets repeat and large ones are subsampled, as in Open
X-Embodiment's mixtures). Weights are explicit (``{name: weight}``), ``uniform``, or ``size``
(proportional to each dataset's samples: every sample equally likely). Every sample carries its
dataset's name under ``dataset``.

Deterministic: the dataset of mixture sample ``k`` of epoch ``e`` is drawn in blocks of
:data:`BLOCK` by a generator seeded with (seed, epoch, consumer, block); each dataset's stream is
deterministic on its own. Exactly resumable: :meth:`MixtureStream.state_dict` holds the mixture's
epoch and position and each dataset stream's state.

Normalization: ``per_dataset`` normalizes state and action with each dataset's own statistics
(``normalize`` says how: ``mean_std`` or ``q01_q99``); ``pooled`` with statistics pooled over the
datasets (exact for mean and std, from counts; quantiles: the lowest q01 and the highest q99).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.training.normalization import EPS, NORMALIZED
from datapipe.training.stream import ShardStream

BLOCK = 4096
WEIGHTINGS = ("size", "uniform")


class MixtureError(DatapipeError):
    """A mixture asked for what its datasets cannot give (weights, normalization, a saved state)."""


class MixtureStream:
    """Samples of several shard datasets (``{name: path}``), mixed by ``weights``.

    ``samples_per_epoch``: mixture samples per epoch (default: the datasets' samples summed);
    ``normalize``: None, ``mean_std`` or ``q01_q99``; ``normalization``: ``per_dataset`` or
    ``pooled``; other keyword arguments are :class:`~datapipe.training.stream.StreamConfig` settings
    shared by every dataset's stream (split, cameras, image_size, horizons, shuffle, seed,
    rank, world_size...)."""

    def __init__(
        self,
        datasets: dict[str, str | ShardDataset],
        weights: str | dict[str, float] = "size",
        normalize: str | None = None,
        normalization: str = "per_dataset",
        samples_per_epoch: int | None = None,
        **config: Any,
    ):
        if not datasets:
            raise MixtureError("a mixture needs at least one dataset")
        if normalization not in ("per_dataset", "pooled"):
            raise MixtureError(f"normalization must be per_dataset or pooled, got {normalization!r}")
        self.names = list(datasets)
        own = normalize if normalization == "per_dataset" else None
        self.streams = {n: ShardStream(p, **{**config, "normalize": own}) for n, p in datasets.items()}
        self.config = next(iter(self.streams.values())).config
        self.normalize_mode, self.normalization = normalize, normalization
        self._check_shapes()
        self.weights = self._weights(weights)
        self.samples_per_epoch = int(samples_per_epoch or sum(len(s) for s in self.streams.values()))
        self.epoch, self.position = 0, 0
        self._pooled = self._pooled_normalizers() if normalization == "pooled" and normalize else {}
        self._iters: dict[str, Iterator[dict[str, Any]]] = {}
        self._blocks: dict[int, np.ndarray] = {}

    # -- setup ----------------------------------------------------------------------------------
    def _check_shapes(self) -> None:
        for key in NORMALIZED:
            shapes = {n: s.dataset.features.get(key, {}).get("shape") for n, s in self.streams.items()}
            if len({tuple(v) if v is not None else None for v in shapes.values()}) > 1:
                raise MixtureError(
                    f"{key} differs between the datasets {shapes}: standardize them to one shape first "
                    "(standardize.embodiment: pad_state, one action space)"
                )

    def _weights(self, weights: str | dict[str, float]) -> np.ndarray:
        if weights == "uniform":
            w = np.ones(len(self.names))
        elif weights == "size":
            w = np.array([float(len(self.streams[n])) for n in self.names])
        elif isinstance(weights, dict):
            unknown = sorted(set(weights) - set(self.names))
            if unknown:
                raise MixtureError(f"weights for unknown datasets {unknown} (datasets: {self.names})")
            w = np.array([float(weights.get(n, 0.0)) for n in self.names])
        else:
            raise MixtureError(f"weights must be {WEIGHTINGS} or {{dataset: weight}}, got {weights!r}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise MixtureError(f"weights must be finite, non-negative and not all zero, got {w.tolist()}")
        return w / w.sum()

    def _pooled_normalizers(self) -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
        out = {}
        for key in NORMALIZED:
            stats = [s.dataset.stats.get(key) for s in self.streams.values()]
            if any(st is None for st in stats):
                continue
            if self.normalize_mode == "mean_std":
                n = np.array([float(np.asarray(st["count"]).reshape(-1)[0]) for st in stats])
                mean = np.array([np.asarray(st["mean"], np.float64) for st in stats])
                var = np.array([np.asarray(st["std"], np.float64) ** 2 for st in stats])
                mu = (n[:, None] * mean).sum(0) / n.sum()
                pooled_var = (n[:, None] * (var + mean**2)).sum(0) / n.sum() - mu**2
                out[key] = (
                    mu.astype(np.float32),
                    np.maximum(np.sqrt(np.maximum(pooled_var, 0)), EPS).astype(np.float32),
                    False,
                )
            else:
                lo = np.min([np.asarray(st["q01"], np.float64) for st in stats], axis=0)
                hi = np.max([np.asarray(st["q99"], np.float64) for st in stats], axis=0)
                out[key] = (((hi + lo) / 2).astype(np.float32), np.maximum((hi - lo) / 2, EPS).astype(np.float32), True)
        return out

    # -- order ----------------------------------------------------------------------------------
    def _choice(self, k: int) -> str:
        block = k // BLOCK
        if block not in self._blocks:
            consumer = self.config.consumer[0]
            rng = np.random.default_rng([self.config.seed, self.epoch, consumer, block, 31])
            self._blocks = {block: rng.choice(len(self.names), size=BLOCK, p=self.weights)}
        return self.names[int(self._blocks[block][k % BLOCK])]

    def _next(self, name: str) -> dict[str, Any] | None:
        for _ in range(2):  # at most one epoch turn-over (an empty share yields nothing)
            it = self._iters.get(name)
            if it is None:
                it = self._iters[name] = iter(self.streams[name])
            try:
                return next(it)
            except StopIteration:
                self._iters.pop(name)
        return None

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while self.position < self.samples_per_epoch:
            name = self._choice(self.position)
            sample = self._next(name)
            self.position += 1
            if sample is None:
                continue
            for key, (center, scale, clip) in self._pooled.items():
                if key in sample:
                    y = (sample[key].astype(np.float32) - center) / scale
                    sample[key] = np.clip(y, -1.0, 1.0) if clip else y
            sample["dataset"] = name
            yield sample
        self.epoch, self.position, self._blocks = self.epoch + 1, 0, {}

    # -- resume ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "position": self.position,
            "weights": self.weights.tolist(),
            "streams": {n: s.state_dict() for n, s in self.streams.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if sorted(state["streams"]) != sorted(self.names):
            raise MixtureError(
                f"state is of datasets {sorted(state['streams'])}, this mixture has {sorted(self.names)}"
            )
        if not np.allclose(state["weights"], self.weights):
            raise MixtureError(
                f"state was saved with weights {state['weights']}, this mixture has {self.weights.tolist()}"
            )
        self.epoch, self.position, self._blocks = int(state["epoch"]), int(state["position"]), {}
        for name, st in state["streams"].items():
            self.streams[name].load_state_dict(st)
        self._iters = {}

    def with_worker(self, worker: int, num_workers: int) -> MixtureStream:
        """This mixture for one of ``num_workers`` loader workers: each dataset stream takes the
        worker's share, and the worker draws its own dataset sequence."""
        other = object.__new__(MixtureStream)
        other.__dict__.update(self.__dict__)
        other.streams = {n: s.with_worker(worker, num_workers) for n, s in self.streams.items()}
        other.config = replace(self.config, worker=worker, num_workers=num_workers)
        other.samples_per_epoch = -(-self.samples_per_epoch // num_workers)
        other._iters, other._blocks = {}, {}
        return other

    def settings(self) -> dict[str, Any]:
        return {"names": self.names, "weights": self.weights.tolist(), **asdict(self.config)}

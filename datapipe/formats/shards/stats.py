"""Per-feature normalization statistics: min, max, mean, std, q01, q99 per dimension.

:class:`Moments` are exact and mergeable (count, mean, M2 by Chan et al.'s parallel update), so
writers compute them per part and the dataset's are their merge. Quantiles are not mergeable:
:func:`feature_stats` computes them from the values themselves (all of them up to
``max_rows``, a seeded row sample above), as ``numpy.quantile`` does (linear interpolation).

Arrays are ``(T, ...)``; statistics are per trailing element, flattened to ``(D,)`` lists in JSON
with the feature's trailing shape alongside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

QUANTILES = (0.01, 0.99)


@dataclass
class Moments:
    """Running count, mean, sum of squared deviations (M2), min and max per dimension (float64)."""

    count: int
    mean: np.ndarray
    m2: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """Moments of ``values`` ``(N, D)``."""
        v = np.asarray(values, dtype=np.float64)
        mean = v.mean(axis=0)
        return cls(count=v.shape[0], mean=mean, m2=((v - mean) ** 2).sum(axis=0), min=v.min(axis=0), max=v.max(axis=0))

    def merge(self, other: Moments) -> Moments:
        """The moments of both sets of values together."""
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta**2 * (self.count * other.count / n)
        return Moments(n, mean, m2, np.minimum(self.min, other.min), np.maximum(self.max, other.max))

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (``numpy.std`` with ``ddof=0``)."""
        return np.sqrt(self.m2 / self.count)

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean.tolist(),
            "m2": self.m2.tolist(),
            "min": self.min.tolist(),
            "max": self.max.tolist(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Moments:
        return cls(int(doc["count"]), *(np.asarray(doc[k], dtype=np.float64) for k in ("mean", "m2", "min", "max")))


def stats_features(steps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The step arrays that get statistics, as ``(T, D)`` float64: numeric and bool arrays except
    ``timestamp``."""
    out = {}
    for name, arr in steps.items():
        if name == "timestamp" or arr.dtype.kind not in "fiub":
            continue
        out[name] = arr.reshape(arr.shape[0], -1).astype(np.float64)
    return out


def feature_stats(moments: Moments, values: np.ndarray | None, shape: list[int], exact: bool) -> dict[str, Any]:
    """The manifest entry of one feature: min, max, mean, std, q01, q99 (lists over the flattened
    trailing shape), count, and whether quantiles used every value."""
    doc: dict[str, Any] = {
        "shape": shape,
        "count": moments.count,
        "min": moments.min.tolist(),
        "max": moments.max.tolist(),
        "mean": moments.mean.tolist(),
        "std": moments.std.tolist(),
    }
    if values is not None and len(values):
        q = np.quantile(values, QUANTILES, axis=0)
        doc["q01"], doc["q99"] = q[0].tolist(), q[1].tolist()
    else:
        doc["q01"], doc["q99"] = moments.min.tolist(), moments.max.tolist()
    doc["quantiles_exact"] = bool(exact)
    return doc


class QuantileSample:
    """Collects a feature's rows for quantiles: all of them up to ``max_rows``; above, each row is
    kept with probability ``max_rows / total`` (seeded, so the result is reproducible)."""

    def __init__(self, total_rows: int, max_rows: int, seed: int = 0):
        self.keep_p = 1.0 if total_rows <= max_rows else max_rows / total_rows
        self.rng = np.random.default_rng(seed)
        self.chunks: list[np.ndarray] = []

    @property
    def exact(self) -> bool:
        return self.keep_p >= 1.0

    def add(self, values: np.ndarray) -> None:
        if self.keep_p < 1.0:
            values = values[self.rng.random(len(values)) < self.keep_p]
        self.chunks.append(values)

    def values(self) -> np.ndarray | None:
        return np.concatenate(self.chunks) if self.chunks else None

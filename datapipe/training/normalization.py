"""Normalization of state and action from a dataset's manifest statistics.

``mean_std``: ``y = (x - mean) / std``. ``q01_q99``: ``y = (x - (q99 + q01) / 2) / ((q99 - q01) / 2)``,
clipped to [-1, 1], so q01 -> -1 and q99 -> 1. Scales are at least :data:`EPS`, so a constant
dimension maps to 0 instead of dividing by zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datapipe.formats.shards.dataset import DatasetError

NORMALIZED = ("observation.state", "action")
EPS = 1e-8


def normalizers(dataset: Any, mode: str | None) -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
    """Per normalized feature of ``dataset`` (a :class:`~datapipe.formats.shards.dataset.ShardDataset`):
    ``(center, scale, clip)`` as float32 arrays of the feature's width, ``y = (x - center) / scale``
    then clipped to [-1, 1] where ``clip``. Empty for ``mode=None``; a manifest without the
    statistics ``mode`` needs raises :class:`DatasetError` naming it."""
    out: dict[str, tuple[np.ndarray, np.ndarray, bool]] = {}
    if mode is None:
        return out
    stats = dataset.manifest.get("stats") or {}
    for name in NORMALIZED:
        st = stats.get(name)
        keys = ("mean", "std") if mode == "mean_std" else ("q01", "q99")
        if name in dataset.features and (not isinstance(st, dict) or any(k not in st for k in keys)):
            raise DatasetError(
                f"{dataset.uri('index.json')}: normalize={mode!r} needs the {'/'.join(keys)} statistics "
                f"of {name!r}, which the manifest lacks; rebuild the index or pass normalize=None"
            )
        if st is None:
            continue
        if mode == "mean_std":
            center, scale = np.asarray(st["mean"]), np.maximum(np.asarray(st["std"]), EPS)
            out[name] = (center.astype(np.float32), scale.astype(np.float32), False)
        else:
            lo, hi = np.asarray(st["q01"]), np.asarray(st["q99"])
            out[name] = (
                ((hi + lo) / 2).astype(np.float32),
                np.maximum((hi - lo) / 2, EPS).astype(np.float32),
                True,
            )
    return out

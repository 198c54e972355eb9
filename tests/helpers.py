"""Helpers for tests: read a parquet sink's episodes, build expected synthetic episodes, write a
small synthetic shard dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from datapipe.records import Episode
from datapipe.records.arrow import table_to_episodes
from datapipe.records.synthetic import synthetic_episode


def read_sink(path: str | Path) -> list[Episode]:
    """Every episode in a ``sink.parquet`` folder."""
    episodes = []
    for f in sorted(Path(path).glob("part-*.parquet")):
        episodes.extend(table_to_episodes(pq.read_table(f)))
    return episodes


def synthetic_shards(folder: Path, source: dict[str, Any], sink: dict[str, Any] | None = None) -> tuple[Path, Any]:
    """``source.synthetic`` (with ``source``) -> ``sink.webdataset`` (with ``sink``) run locally
    into ``folder/ds`` (run directory ``folder/run``): ``(dataset path, run result)``."""
    from datapipe.engine.run import run_workflow
    from datapipe.engine.workflow import parse_workflow

    out = {"path": str(folder / "ds"), **(sink or {})}
    doc = {
        "name": "synthetic",
        "stages": [
            {"id": "src", "uses": "source.synthetic", "with": source},
            {"id": "out", "uses": "sink.webdataset", "needs": ["src"], "with": out},
        ],
    }
    workflow = parse_workflow(doc, "synthetic.yaml")
    result = run_workflow(workflow, out=str(folder / "run"), runner="local", progress=False)
    assert result.ok, result.error
    return folder / "ds", result


def expected_synthetic(n: int, seed: int = 0, min_length: int = 20, max_length: int = 60, **kw) -> list[Episode]:
    """What ``source.synthetic`` yields for ``episodes: n`` with these parameters."""
    return [
        synthetic_episode(
            seed, i, length=int(np.random.default_rng([seed, i, 1]).integers(min_length, max_length + 1)), **kw
        )
        for i in range(n)
    ]


def synthetic_raw_frames(
    seed: int, index: int, length: int, image_size: tuple[int, int], state_dim: int = 7
) -> np.ndarray:
    """The frames ``source.synthetic`` drew for one camera before encoding them (its draw order:
    state walk, success, then frames; action_dim <= state_dim)."""
    from datapipe.records.synthetic import synthetic_frames

    rng = np.random.default_rng([seed, index])
    rng.normal(0, 0.02, (length + 1, state_dim))
    rng.random()
    return synthetic_frames(rng, length, *image_size)

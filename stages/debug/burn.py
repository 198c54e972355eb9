"""``debug.burn``: keep a CPU busy a fixed time per episode (simulated compute for benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.config import check
from datapipe.engine.stage import Transform
from datapipe.records import Episode


def burn(ms: float) -> None:
    """Spin on the CPU for ``ms`` milliseconds (holding the GIL, as Python compute does)."""
    end = time.perf_counter() + ms / 1000.0
    x = 0
    while time.perf_counter() < end:
        x += 1


@dataclass(frozen=True)
class BurnConfig:
    # CPU time to spend per episode, in milliseconds (simulates per-episode compute)
    ms: float = 10.0

    def __post_init__(self) -> None:
        check(0 <= self.ms <= 3_600_000, "ms", f"must be within 0..3600000, got {self.ms}")


class Burn(Transform):
    """Spin on a CPU a fixed time per episode, then pass it through."""

    name = "debug.burn"
    version = "1"
    Config = BurnConfig

    def process(self, episode: Episode) -> Iterable[Episode]:
        burn(self.config.ms)
        yield episode

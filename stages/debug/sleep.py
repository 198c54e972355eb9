"""``debug.sleep``: sleep a fixed time per episode (simulated work for benchmarks and tests)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.config import check
from datapipe.engine.stage import Transform
from datapipe.records import Episode


@dataclass(frozen=True)
class SleepConfig:
    # time to sleep per episode, in milliseconds (simulates per-episode work)
    ms: float = 10.0

    def __post_init__(self) -> None:
        check(0 <= self.ms <= 3_600_000, "ms", f"must be within 0..3600000, got {self.ms}")


class Sleep(Transform):
    """Sleep a fixed time per episode, then pass it through."""

    name = "debug.sleep"
    version = "1"
    Config = SleepConfig

    def process(self, episode: Episode) -> Iterable[Episode]:
        time.sleep(self.config.ms / 1000.0)
        yield episode

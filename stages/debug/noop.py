"""``debug.noop``: pass every episode through (engine-overhead benchmarks, tests)."""

from __future__ import annotations

from collections.abc import Iterable

from datapipe.engine.stage import Transform
from datapipe.records import Episode


class Noop(Transform):
    """Pass every episode through unchanged (measures engine overhead)."""

    name = "debug.noop"
    version = "1"

    def process(self, episode: Episode) -> Iterable[Episode]:
        yield episode

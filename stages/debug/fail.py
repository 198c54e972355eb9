"""``debug.fail``: raise on episodes matching a condition (tests of the error policy)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.engine.stage import Transform
from datapipe.records import Episode
from datapipe.records.expressions import check_expression, compile_expression, episode_namespace, evaluate


@dataclass(frozen=True)
class FailConfig:
    # raise a RuntimeError for episodes where this condition holds (filter.expr syntax)
    expr: str

    def __post_init__(self) -> None:
        check_expression(self.expr)


class Fail(Transform):
    """Raise on episodes matching `expr`; pass the others through (tests the error policy)."""

    name = "debug.fail"
    version = "1"
    Config = FailConfig

    def process(self, episode: Episode) -> Iterable[Episode]:
        if evaluate(compile_expression(self.config.expr), episode_namespace(episode)):
            raise RuntimeError(f"debug.fail: {self.config.expr} holds for episode {episode.episode_id}")
        yield episode

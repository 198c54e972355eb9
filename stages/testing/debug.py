"""Debugging and benchmarking stages: pass-through, sleep, and deliberate failures."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.config import ConfigError
from datapipe.records import Episode
from datapipe.stage import Transform
from stages.curation.expressions import (
    ExpressionError,
    compile_expression,
    episode_namespace,
    evaluate,
)


class Noop(Transform):
    """Pass every episode through unchanged (measures engine overhead)."""

    name = "debug.noop"
    version = "1"

    def process(self, episode: Episode) -> Iterable[Episode]:
        yield episode


@dataclass(frozen=True)
class SleepConfig:
    # time to sleep per episode, in milliseconds (simulates per-episode work)
    ms: float = 10.0


class Sleep(Transform):
    """Sleep a fixed time per episode, then pass it through."""

    name = "debug.sleep"
    version = "1"
    Config = SleepConfig

    def process(self, episode: Episode) -> Iterable[Episode]:
        time.sleep(self.config.ms / 1000.0)
        yield episode


@dataclass(frozen=True)
class FailConfig:
    # raise a RuntimeError for episodes where this condition holds (filter.expr syntax)
    expr: str

    def __post_init__(self) -> None:
        try:
            compile_expression(self.expr)
        except ExpressionError as exc:
            raise ConfigError("expr", str(exc)) from None


class Fail(Transform):
    """Raise on episodes matching `expr`; pass the others through (tests the error policy)."""

    name = "debug.fail"
    version = "1"
    Config = FailConfig

    def process(self, episode: Episode) -> Iterable[Episode]:
        if evaluate(compile_expression(self.config.expr), episode_namespace(episode)):
            raise RuntimeError(f"debug.fail: {self.config.expr} holds for episode {episode.episode_id}")
        yield episode

"""``filter.expr``: keep episodes for which a condition on metadata or sizes holds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.engine.stage import Resources, Transform
from datapipe.records import Episode
from datapipe.records.expressions import check_expression, compile_expression, episode_namespace, evaluate


@dataclass(frozen=True)
class FilterExprConfig:
    # condition to keep an episode, e.g. 'length >= 30 and meta["quality"] > 0.5'; names:
    # length, fps, duration_s, success, task, meta, source_kind, source_uri, robot, cameras,
    # steps, n_interventions
    expr: str

    def __post_init__(self) -> None:
        check_expression(self.expr)


class FilterExpr(Transform):
    """Keep episodes for which `expr` is true (a safe Python-like condition)."""

    name = "filter.expr"
    version = "1"
    Config = FilterExprConfig
    resources = Resources(cpus=0.25)

    def setup(self) -> None:
        self._tree = compile_expression(self.config.expr)

    def process(self, episode: Episode) -> Iterable[Episode]:
        if evaluate(self._tree, episode_namespace(episode)):
            yield episode

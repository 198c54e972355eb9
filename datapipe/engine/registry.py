"""The stage registry: stage name -> stage class.

Registration is explicit, never an import side effect. Stages shipped with datapipe and plugins of
other packages are declared as entry points of the group ``datapipe.stages`` in their
``pyproject.toml``::

    [project.entry-points."datapipe.stages"]
    "filter.expr" = "datapipe.stages.filter.expr:FilterExpr"

Modules are imported only when a stage is used, so ``datapipe`` itself never imports ``stages/``.
Tests and notebooks can add stages to a registry with :meth:`Registry.register`.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points

from datapipe.engine.stage import SinkStage, SourceStage, Stage, Transform
from datapipe.errors import DatapipeError

ENTRY_POINT_GROUP = "datapipe.stages"


class UnknownStageError(DatapipeError):
    """No stage is registered under a name; the message suggests close names."""


class Registry:
    """Maps stage names to classes or to ``"module:Class"`` targets imported on first use."""

    def __init__(self) -> None:
        self._targets: dict[str, type[Stage] | str] = {}

    def register(self, name: str, target: type[Stage] | str) -> None:
        """Register ``target`` (a Stage subclass or ``"module:Class"``) under ``name``."""
        if name in self._targets and self._targets[name] != target:
            raise DatapipeError(f"stage {name!r} is registered twice: {self._targets[name]} and {target}")
        self._targets[name] = target

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._targets)

    def __contains__(self, name: str) -> bool:
        return name in self._targets

    def get(self, name: str) -> type[Stage]:
        """The stage class registered as ``name`` (imported now if needed)."""
        if name not in self._targets:
            close = difflib.get_close_matches(name, self._targets, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownStageError(f"unknown stage {name!r}{hint} (see `datapipe stages`)")
        target = self._targets[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            cls = getattr(importlib.import_module(module_name), attr)
            self._targets[name] = cls
            target = cls
        if not (isinstance(target, type) and issubclass(target, (SourceStage, Transform, SinkStage))):
            raise TypeError(f"stage {name!r} ({target}) is not a SourceStage, Transform or SinkStage")
        if target.name != name:
            raise TypeError(
                f"stage class {target.__qualname__} declares name {target.name!r}, but is registered as {name!r}"
            )
        return target

    def copy(self) -> Registry:
        """An independent registry with the same entries (for tests adding stages)."""
        other = Registry()
        other._targets = dict(self._targets)
        return other


def load_entry_points(registry: Registry | None = None) -> Registry:
    """A registry with every stage declared under the ``datapipe.stages`` entry-point group."""
    registry = registry or Registry()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        registry.register(ep.name, ep.value)
    return registry


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry of installed stages (built once)."""
    global _default
    if _default is None:
        _default = load_entry_points()
    return _default

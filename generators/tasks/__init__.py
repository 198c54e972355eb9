"""Simulated tasks, one per file; :func:`get_task` by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from datapipe.errors import DatapipeError

if TYPE_CHECKING:  # the tasks import MuJoCo: only when one is asked for
    from datapipe.generators.tasks.base import SimTask

TaskName = Literal["pick_place", "stack", "push", "open_drawer", "pick_named"]


class UnknownTaskError(DatapipeError, KeyError):
    """No simulated task has this name (the message lists those that exist)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def task_names() -> tuple[str, ...]:
    return get_args(TaskName)


def get_task(name: str) -> SimTask:
    """The task called ``name``."""
    if name == "pick_place":
        from datapipe.generators.tasks.pick_place import PickPlace

        return PickPlace()
    if name == "stack":
        from datapipe.generators.tasks.stack import Stack

        return Stack()
    if name == "push":
        from datapipe.generators.tasks.push import Push

        return Push()
    if name == "open_drawer":
        from datapipe.generators.tasks.open_drawer import OpenDrawer

        return OpenDrawer()
    if name == "pick_named":
        from datapipe.generators.tasks.pick_named import PickNamed

        return PickNamed()
    raise UnknownTaskError(f"unknown sim task {name!r}; known: {', '.join(task_names())}")

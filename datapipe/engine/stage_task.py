"""What a worker needs to run one stage of a run: the stage's task (picklable, small), and the
stage object set up once per process and task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datapipe.engine.rundir import RunDir, StageDir
from datapipe.engine.stage import Stage
from datapipe.errors import is_bad_input
from datapipe.records import LineageEntry


@dataclass(frozen=True)
class StageTask:
    """Everything a worker needs to run one stage of a run (picklable, small)."""

    stage_id: str
    uses: str
    stage_cls: type[Stage]
    config: Any
    config_hash: str
    run_uri: str
    out_hash: str
    epoch: str = ""

    @property
    def lineage(self) -> LineageEntry:
        return LineageEntry(stage=self.uses, version=self.stage_cls.version, config_hash=self.config_hash)

    def stage_dir(self) -> StageDir:
        return RunDir(self.run_uri).stage(self.stage_id, self.out_hash)

    def check_epoch(self) -> None:
        """Refuse to go on if a newer run took over the run directory (fencing)."""
        if self.epoch:
            RunDir(self.run_uri).check_epoch(self.epoch)


# Stage objects with setup() done, per worker process: setup runs once per process and stage.
_READY: dict[tuple[str, str, str], Stage] = {}


class StageSetupError(RuntimeError):
    """A stage could not be created or set up on a worker (this fails the stage, not an input)."""

    def __init__(self, stage_id: str, detail: str, bad_input: bool = False):
        super().__init__(stage_id, detail, bad_input)  # args as given, so it pickles across Ray
        self.stage_id, self.detail, self.bad_input = stage_id, detail, bad_input

    def __str__(self) -> str:
        return f"stage {self.stage_id!r} {self.detail}"


def ready_stage(task: StageTask) -> Stage:
    """This process's stage object for ``task``, created and set up on first use."""
    key = (task.run_uri, task.stage_id, task.out_hash)
    stage = _READY.get(key)
    if stage is None:
        try:
            stage = task.stage_cls(task.config)
            stage.setup()
        except Exception as exc:
            raise StageSetupError(
                task.stage_id, f"setup failed: {type(exc).__name__}: {exc}", is_bad_input(exc)
            ) from exc
        _READY[key] = stage
    return stage


def task_for(spec: Any, run_uri: str, out_hash: str, epoch: str = "") -> StageTask:
    """The :class:`StageTask` of a workflow stage spec in a run."""
    return StageTask(
        stage_id=spec.id,
        uses=spec.uses,
        stage_cls=spec.stage_cls,
        config=spec.config,
        config_hash=spec.config_hash,
        run_uri=run_uri,
        out_hash=out_hash,
        epoch=epoch,
    )

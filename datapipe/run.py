"""Running a workflow: plan it on a run directory, execute it, write the manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.console import Console

from datapipe.progress import make_console

from datapipe.plan import RunPlan, plan_run
from datapipe.progress import ProgressBoard, print_summary
from datapipe.runners.common import StageFailed, note_reused
from datapipe.workflow import Workflow

DEFAULT_RUNS_ROOT = "runs"


@dataclass
class RunResult:
    """What a run did: the plan (with per-stage status and counts) and an error, if it failed."""

    plan: RunPlan
    ok: bool
    error: str | None = None

    @property
    def exit_code(self) -> int:
        """0 on success, 1 when the run failed."""
        return 0 if self.ok else 1

    def counts(self, stage_id: str) -> dict[str, int]:
        """``{"in", "out", "failed", "worker_s"}`` of one stage."""
        return self.plan.get(stage_id).counts.as_dict()


def default_run_dir(workflow: Workflow) -> str:
    """``runs/<workflow name>`` under the current directory."""
    return os.path.join(DEFAULT_RUNS_ROOT, workflow.name)


def run_workflow(
    workflow: Workflow,
    out: str | None = None,
    runner: str = "ray",
    address: str | None = None,
    force: bool = False,
    progress: bool = True,
    console: Console | None = None,
) -> RunResult:
    """Execute ``workflow`` into the run directory ``out`` (default ``runs/<name>``).

    ``runner``: ``"ray"`` (embedded local Ray unless ``address`` / ``RAY_ADDRESS`` names a
    cluster; an already initialised Ray is used as it is) or ``"local"`` (no Ray).
    Stages completed by an earlier run into the same directory are reused; an interrupted stage
    resumes at the first unfinished input. ``force`` discards earlier work of every stage.
    """
    console = console or make_console()
    plan = plan_run(workflow, out or default_run_dir(workflow), force=force)
    note_reused(plan)
    plan.run.write_manifest(plan.manifest("running"))
    labels = {sp.spec.id: f"{sp.spec.id} ({sp.spec.uses})" for sp in plan.stages}
    board = ProgressBoard([sp.spec.id for sp in plan.stages], labels, enabled=progress, console=console)
    error = None
    shutdown = False
    try:
        with board:
            for sp in plan.stages:
                if sp.complete_before:
                    board.finish(sp.spec.id, sp.counts.n_in, sp.counts.n_out, sp.counts.n_failed)
            if runner == "local":
                from datapipe.runners.local import execute_local

                execute_local(plan, board)
            elif runner == "ray":
                from datapipe.runners.ray_runner import execute_ray, init_ray

                shutdown = init_ray(address)
                execute_ray(plan, board)
            else:
                raise ValueError(f"unknown runner {runner!r}; use 'ray' or 'local'")
    except StageFailed as exc:
        error = str(exc)
    finally:
        if shutdown:
            import ray

            ray.shutdown()
    plan.run.write_manifest(plan.manifest("failed" if error else "succeeded", error))
    if progress:
        print_summary(plan, console)
        if error:
            console.print(f"[bold red]run failed:[/] {error}")
    return RunResult(plan=plan, ok=error is None, error=error)

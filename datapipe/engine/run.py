"""Running a workflow: plan it on a run directory, execute it, write the manifest."""

from __future__ import annotations

import dataclasses
import os
import traceback
from dataclasses import dataclass

from rich.console import Console

from datapipe.engine.plan import RunPlan, plan_run
from datapipe.engine.progress import ProgressBoard, make_console, print_summary
from datapipe.engine.runners.common import StageFailed, note_reused
from datapipe.engine.workflow import Workflow
from datapipe.errors import DatapipeError, Terminated, is_bad_input, terminate_as_interrupt
from datapipe.formats.ownership import claim_sink_output, release_sink_claim, sink_output_matches

DEFAULT_RUNS_ROOT = "runs"


@dataclass
class RunResult:
    """What a run did: the plan (with per-stage status and counts) and an error, if it failed."""

    plan: RunPlan
    ok: bool
    error: str | None = None
    bad_input: bool = False

    @property
    def exit_code(self) -> int:
        """0 on success, 2 when the run failed on bad input (a dataset a source cannot read...),
        1 when it failed otherwise."""
        return 0 if self.ok else 2 if self.bad_input else 1

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
    try:
        prepare_run(plan)
    except DatapipeError:
        release_claims(plan)  # the sinks claimed before the one refused
        raise
    note_reused(plan)
    plan.run.write_manifest(plan.manifest("running"))
    terminate_as_interrupt()
    labels = {sp.spec.id: f"{sp.spec.id} ({sp.spec.uses})" for sp in plan.stages}
    board = ProgressBoard([sp.spec.id for sp in plan.stages], labels, enabled=progress, console=console)
    error = None
    bad_input = False
    shutdown = False
    try:
        with board:
            for sp in plan.stages:
                if sp.complete_before:
                    board.finish(sp.spec.id, sp.counts.n_in, sp.counts.n_out, sp.counts.n_failed)
                elif sp.spec.kind == "source":
                    board.set_total(sp.spec.id, sp.spec.stage_cls.expected_items(sp.spec.config))
            if runner == "local":
                from datapipe.engine.runners.local import execute_local

                execute_local(plan, board)
            elif runner == "ray":
                from datapipe.engine.runners.ray_cluster import init_ray
                from datapipe.engine.runners.ray_runner import check_resources, execute_ray

                shutdown = init_ray(address)
                terminate_as_interrupt()  # again: Ray's init may install its own SIGTERM handler
                check_resources(plan)
                execute_ray(plan, board)
            else:
                raise DatapipeError(f"unknown runner {runner!r}; use 'ray' or 'local'")
    except StageFailed as exc:
        error, bad_input = str(exc), exc.bad_input
    except KeyboardInterrupt as exc:
        _mark_unfinished(plan, "interrupted")
        how = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        plan.run.write_manifest(plan.manifest("interrupted", f"interrupted ({how})"))
        raise
    except Exception as exc:
        _mark_unfinished(plan, "failed")
        if is_bad_input(exc):
            plan.run.write_manifest(plan.manifest("failed", str(exc)))
        else:  # a bug: keep the traceback with the run
            text = "".join(traceback.format_exception(exc))
            plan.run.root.join("error.txt").write_bytes_atomic(text.encode())
            plan.run.write_manifest(
                plan.manifest("failed", f"{type(exc).__name__}: {exc} (traceback in {plan.run.root.uri}/error.txt)")
            )
        raise
    finally:
        release_claims(plan)
        if shutdown:
            from datapipe.engine.runners.ray_cluster import shutdown_ray

            shutdown_ray()
    plan.run.write_manifest(plan.manifest("failed" if error else "succeeded", error))
    if progress:
        print_summary(plan, console)
        if error:
            console.print(f"[bold red]run failed:[/] {error}")
    return RunResult(plan=plan, ok=error is None, error=error, bad_input=bad_input)


def release_claims(plan: RunPlan) -> None:
    """Mark the claims of sinks this run did not complete as stopped (see
    :func:`datapipe.formats.ownership.release_sink_claim`)."""
    for sp in plan.stages:
        if sp.spec.kind == "sink" and sp.status not in ("succeeded", "reused"):
            try:
                release_sink_claim(sp.spec.instantiate(), sp.spec.id, plan.run.root.uri)
            except OSError:
                pass  # the claim stays "writing"; its message says how to go on


def _mark_unfinished(plan: RunPlan, status: str) -> None:
    for sp in plan.stages:
        if sp.status in ("pending", "running"):
            sp.status = status


def prepare_run(plan: RunPlan) -> None:
    """Bind ``plan`` to its run directory: create it, take a new fencing epoch, forget earlier work
    with ``force``, find what earlier runs completed, remove what they left uncommitted, and make
    sure every sink's output is one it may write (and, when reused, still the one it wrote).

    Raises :class:`~datapipe.errors.DatapipeError` when the run directory cannot be written."""
    run = plan.run
    try:
        run.root.makedirs()
        epoch = run.new_epoch()
    except OSError as exc:
        raise DatapipeError(f"run directory {run.root.uri}: cannot write there ({exc})") from None
    for sp in plan.stages:
        sp.task = dataclasses.replace(sp.task, epoch=epoch)
        if plan.force:
            sp.dir.reset()
    for chain in plan.chains:
        tail = chain[-1]
        # A stage completed as fused has no data: reusable only inside a complete chain like it.
        tail.complete_before = tail.dir.is_complete() and tail.dir.completion().get("persisted", True)
        if tail.complete_before and tail.spec.kind == "sink":
            tail.complete_before = sink_output_matches(tail)
        if tail.dir.is_complete() and not tail.complete_before:
            tail.dir.reset()
        tail.dir.clean_uncommitted()
        for sp in chain[:-1]:
            sp.complete_before = tail.complete_before and sp.dir.is_complete()
            if sp.dir.is_complete() and not sp.complete_before:
                sp.dir.reset()  # its chain runs again (a stage downstream changed)
            sp.dir.clean_uncommitted(tail.dir)
    for sp in plan.stages:
        if sp.spec.kind == "sink" and not sp.complete_before:
            claim_sink_output(sp, run.root.uri)
        elif sp.spec.kind == "sink":
            sp.spec.instantiate().cleanup()  # a kill between its completion marker and cleanup
    run.root.remove_temporaries()  # the manifest's and epoch's, of a crashed run

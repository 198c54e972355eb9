"""A run plan: where each stage of a workflow writes, what is done, and how it executes.

Describing the work (this module) is separate from running it (``datapipe.runners``).

Each stage gets a content hash (:func:`datapipe.hashing.output_hash`) and a folder in the run
directory. A stage is *streamed* into its consumer when it has exactly one consumer; otherwise
(a leaf, a sink, or a stage feeding several consumers) it is *committed*: executed to the end
before its consumers read its committed output. Streamed chains execute when the committed stage
at their end does.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from datapipe.config import config_to_dict
from datapipe.execution import StageTask, task_for
from datapipe.hashing import output_hash
from datapipe.rundir import RunDir, StageCounts, StageDir
from datapipe.workflow import StageSpec, Workflow

TRACKED_PACKAGES = ("datapipe", "ray", "pyarrow", "numpy", "av", "opencv-python-headless",
                    "mujoco", "mediapipe", "polars", "webdataset", "torch")


@dataclass
class StagePlan:
    """One stage in a run: spec, hash, folder, task and state."""

    spec: StageSpec
    out_hash: str
    dir: StageDir
    task: StageTask
    mode: str  # "stream" | "commit"
    complete_before: bool
    status: str = "pending"  # pending | reused | succeeded | failed | blocked (downstream of a failure)
    counts: StageCounts = field(default_factory=StageCounts)
    parts_reused: int = 0
    parts_written: int = 0
    duration_s: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)  # a sink's finalize() summary


@dataclass
class RunPlan:
    """All stages of a workflow in topological order, bound to a run directory."""

    workflow: Workflow
    run: RunDir
    stages: list[StagePlan]
    started_at: float = field(default_factory=time.time)

    def get(self, stage_id: str) -> StagePlan:
        return next(s for s in self.stages if s.spec.id == stage_id)

    def segment(self, stage_id: str) -> list[StagePlan]:
        """``stage_id`` and the not-yet-complete streamed stages that execute with it."""
        out: list[StagePlan] = []

        def visit(sid: str) -> None:
            sp = self.get(sid)
            if sp in out:
                return
            out.append(sp)
            for need in sp.spec.needs:
                up = self.get(need)
                if up.mode == "stream" and not up.complete_before:
                    visit(need)

        visit(stage_id)
        return out

    def manifest(self, status: str, error: str | None = None) -> dict[str, Any]:
        """The ``manifest.json`` document for the run's current state."""
        return {
            "workflow": self.workflow.name,
            "workflow_file": self.workflow.path,
            "run_dir": self.run.root.uri,
            "status": status,
            "error": error,
            "started_at": self.started_at,
            "finished_at": time.time() if status != "running" else None,
            "stages": {
                sp.spec.id: {
                    "uses": sp.spec.uses,
                    "version": sp.spec.stage_cls.version,
                    "kind": sp.spec.kind,
                    "config": config_to_dict(sp.spec.config),
                    "config_hash": sp.spec.config_hash,
                    "hash": sp.out_hash,
                    "dir": f"stages/{sp.dir.name}",
                    "needs": {n: self.get(n).out_hash for n in sp.spec.needs},
                    "status": sp.status,
                    "counts": sp.counts.as_dict(),
                    "max_error_rate": sp.spec.max_error_rate,
                    "parts_reused": sp.parts_reused,
                    "parts_written": sp.parts_written,
                    "duration_s": round(sp.duration_s, 3),
                    "result": sp.result,
                }
                for sp in self.stages
            },
            "packages": package_versions(),
            "python": platform.python_version(),
            "host": platform.node(),
        }


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that matter for reproducing a run."""
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def plan_run(workflow: Workflow, run_uri: str, force: bool = False) -> RunPlan:
    """Bind ``workflow`` to the run directory ``run_uri``; with ``force``, forget earlier work."""
    run = RunDir(run_uri)
    run.root.makedirs()
    epoch = run.new_epoch()
    hashes: dict[str, str] = {}
    stages = []
    for spec in workflow.stages:
        h = output_hash(spec.config_hash, [hashes[n] for n in spec.needs])
        hashes[spec.id] = h
        sdir = run.stage(spec.id, h)
        if force:
            sdir.reset()
        else:
            sdir.clean_uncommitted()
        consumers = workflow.consumers(spec.id)
        mode = "stream" if len(consumers) == 1 and spec.kind != "sink" else "commit"
        stages.append(StagePlan(spec=spec, out_hash=h, dir=sdir, task=task_for(spec, run.root.uri, h, epoch),
                                mode=mode, complete_before=sdir.is_complete()))
    return RunPlan(workflow=workflow, run=run, stages=stages)

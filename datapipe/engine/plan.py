"""A run plan: where each stage of a workflow writes, what is done, and how it executes.

Describing the work (this module) is separate from running it (``datapipe.engine.runners``).

Each stage gets a content hash (:func:`datapipe.engine.hashing.output_hash`) and a folder in the run
directory. Stages are grouped into *chains* that run in one worker call per batch, episodes
passed in memory from stage to stage: a stage is *fused* into its consumer when it is that
consumer's only need and the consumer is its only consumer, neither runs on an actor pool, they
ask for the same GPUs and it is not marked ``checkpoint`` (a chain reserves the largest CPU and
memory request of its stages). A fused stage commits no data, only its
quarantine; the chain's last stage commits the outputs and, in its receipts, which chain inputs
are done and the fused stages' counts, so resume is per chain input.

A chain's last stage is *streamed* into its consumer chain when it has exactly one consumer;
otherwise (a leaf, a sink, or a stage feeding several consumers) it is *committed*: executed to
the end before its consumers read its committed output. Streamed chains execute when the
committed stage at their end does.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from datapipe.config import config_to_dict
from datapipe.engine.hashing import output_hash
from datapipe.engine.rundir import CommittedParts, RunDir, StageCounts, StageDir
from datapipe.engine.stage import Resources
from datapipe.engine.stage_task import StageTask, task_for
from datapipe.engine.workflow import StageSpec, Workflow

TRACKED_PACKAGES = (
    "datapipe",
    "ray",
    "pyarrow",
    "numpy",
    "av",
    "opencv-python-headless",
    "mujoco",
    "mediapipe",
    "polars",
    "webdataset",
    "torch",
)


@dataclass
class StagePlan:
    """One stage in a run: spec, hash, folder, task and state."""

    spec: StageSpec
    out_hash: str
    dir: StageDir
    task: StageTask
    mode: str  # "fused" (no data persisted) | "stream" | "commit"
    complete_before: bool
    status: str = "pending"  # pending | reused | succeeded | failed | blocked (downstream of a failure)
    counts: StageCounts = field(default_factory=StageCounts)
    parts_reused: int = 0
    parts_written: int = 0
    duration_s: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)  # a sink's finalize() summary
    tail: StagePlan | None = None  # for a fused stage: the last stage of its chain

    def committed(self) -> CommittedParts:
        """What this stage committed (a fused stage's counts live in its chain end's receipts)."""
        return self.dir.committed(self.tail.dir if self.tail else None)

    def read_quarantine(self) -> Any:
        """This stage's quarantined inputs of committed parts (a pyarrow table)."""
        return self.dir.read_quarantine(self.tail.dir if self.tail else None)


@dataclass
class RunPlan:
    """All stages of a workflow in topological order, bound to a run directory."""

    workflow: Workflow
    run: RunDir
    stages: list[StagePlan]
    chains: list[list[StagePlan]] = field(default_factory=list)
    force: bool = False
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
                if up.mode in ("stream", "fused") and not up.complete_before:
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
                    "mode": sp.mode,
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


def _on_actors(spec: StageSpec) -> bool:
    return spec.concurrency is not None or spec.stage_cls.use_actors


def fusion(workflow: Workflow, up: StageSpec, down: StageSpec) -> tuple[bool, str]:
    """Whether ``up`` runs fused into ``down`` (same worker call, no data persisted between), and why."""
    consumers = [c.id for c in workflow.consumers(up.id)]
    checks = [
        (down.needs == (up.id,), f"{down.id!r} has other inputs too ({', '.join(down.needs)})"),
        (consumers == [down.id], f"{up.id!r} feeds several stages ({', '.join(consumers)})"),
        (up.kind != "sink", f"{up.id!r} is a sink"),
        (not up.checkpoint, f"{up.id!r} has checkpoint: true"),
        (down.stage_cls.fusable, f"{down.uses} sizes its own batches (not fusable)"),
        (not _on_actors(up), f"{up.id!r} runs on an actor pool"),
        (not _on_actors(down), f"{down.id!r} runs on an actor pool"),
        (up.resources.gpus == down.resources.gpus, "they ask for different GPUs"),
    ]
    for ok, reason in checks:
        if not ok:
            return False, reason
    return True, f"{up.id!r} is the only input of {down.id!r}, which is its only consumer"


def can_fuse(workflow: Workflow, up: StageSpec, down: StageSpec) -> bool:
    """Whether ``up`` runs fused into ``down`` (see :func:`fusion`)."""
    return fusion(workflow, up, down)[0]


def chain_resources(specs: list[StageSpec]) -> Resources:
    """What one worker running a chain's stages in turn reserves: the largest request of each."""
    res = specs[0].resources
    for spec in specs[1:]:
        res = res.combined(spec.resources)
    return res


def explain(workflow: Workflow) -> list[str]:
    """How ``workflow`` runs: its chains, each fusion decision with its reason, each chain's
    resources and execution (Ray tasks or an actor pool) and how its output is passed on."""
    lines = []
    for i, chain in enumerate(chains_of(workflow), start=1):
        res = chain_resources(chain)
        head, tail = chain[0], chain[-1]
        if _on_actors(head):
            size = head.concurrency if head.concurrency is not None else "autoscaling to what fits"
            how = f"actor pool ({size})"
        else:
            how = "Ray tasks" + (
                ", one per source shard" if head.kind == "source" else f", batches of {head.batch_size}"
            )
        consumers = workflow.consumers(tail.id)
        passed = (
            ("streamed into " + repr(consumers[0].id))
            if len(consumers) == 1 and tail.kind != "sink"
            else "committed (" + ("a sink" if tail.kind == "sink" else f"{len(consumers)} consumers read it") + ")"
        )
        memory = f"{res.memory / 2**30:.1f} GiB" if res.memory else "none"
        lines.append(f"chain {i}: {' -> '.join(s.id for s in chain)}")
        if head.after:
            lines.append(f"  starts after {', '.join(head.after)} (finalized), reading none of their episodes")
        lines.append(
            f"  runs as {how}; per worker cpus={res.cpus:g} gpus={res.gpus:g} memory={memory}; output {passed}"
        )
        for spec in workflow.stages:
            for need in spec.needs:
                if need == tail.id or (need in {s.id for s in chain} and spec in chain):
                    fused, why = fusion(workflow, workflow.stage(need), spec)
                    verdict = "fused" if fused else "not fused"
                    lines.append(f"  {need} -> {spec.id}: {verdict}: {why}")
    return lines


def chains_of(workflow: Workflow) -> list[list[StageSpec]]:
    """The workflow's stages grouped into chains, in topological order."""
    chains: list[list[StageSpec]] = []
    by_tail: dict[str, list[StageSpec]] = {}
    for spec in workflow.stages:
        up = by_tail.get(spec.needs[0]) if len(spec.needs) == 1 else None
        if up is not None and can_fuse(workflow, up[-1], spec):
            del by_tail[up[-1].id]
            up.append(spec)
            by_tail[spec.id] = up
        else:
            chain = [spec]
            chains.append(chain)
            by_tail[spec.id] = chain
    return chains


def plan_run(workflow: Workflow, run_uri: str, force: bool = False) -> RunPlan:
    """Describe how ``workflow`` runs in the run directory ``run_uri``: hashes, folders, chains and
    modes. Reads and writes nothing; :func:`datapipe.engine.run.prepare_run` binds the plan to what is on disk."""
    run = RunDir(run_uri)
    hashes: dict[str, str] = {}
    plans: dict[str, StagePlan] = {}
    chains = []
    for chain_specs in chains_of(workflow):
        chain = []
        for spec in chain_specs:
            h = output_hash(spec.config_hash, [hashes[n] for n in (*spec.needs, *spec.after)])
            hashes[spec.id] = h
            if spec is not chain_specs[-1]:
                mode = "fused"
            else:
                mode = "stream" if len(workflow.consumers(spec.id)) == 1 and spec.kind != "sink" else "commit"
            plans[spec.id] = StagePlan(
                spec=spec,
                out_hash=h,
                dir=run.stage(spec.id, h),
                mode=mode,
                complete_before=False,
                task=task_for(spec, run.root.uri, h),
            )
            chain.append(plans[spec.id])
        for sp in chain[:-1]:
            sp.tail = chain[-1]
        chains.append(chain)
    return RunPlan(
        workflow=workflow, run=run, stages=[plans[s.id] for s in workflow.stages], chains=chains, force=force
    )

"""``audit.report``: end a workflow with an audit of the episodes that reach it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from datapipe.audit.auditor import Auditor
from datapipe.audit.checks import AuditThresholds
from datapipe.audit.datasets import audit_dataset
from datapipe.audit.report import render_report
from datapipe.engine.stage import SinkStage
from datapipe.formats.ownership import OwnedOutput
from datapipe.formats.staging import clear_staging, stage_episodes, staged_episodes
from datapipe.records import Episode
from datapipe.storage import resolve
from datapipe.wording import counted


@dataclass(frozen=True)
class AuditReportConfig:
    # folder for summary.json and report.html (local path or URI)
    path: str
    # write into a non-empty folder that this stage did not write: files already there are kept
    # (same-named ones are replaced); without it such a folder is refused
    overwrite: bool = False
    # a dataset to compare with (shards or LeRobot folder); empty = none
    compare: str = ""
    # decode camera streams for the frozen/black checks and the contact sheet
    check_cameras: bool = True
    # JSON file {feature: {min: [...], max: [...]}} of declared limits; empty = none
    limits: str = ""


class AuditReport(SinkStage):
    """Audit the episodes reaching this stage: summary.json (counts, distributions, language,
    cameras, findings) and a self-contained report.html."""

    name = "audit.report"
    version = "1"
    Config = AuditReportConfig
    fusable = False
    default_batch_size = 64

    def write(self, episodes: list[Episode], part: str) -> dict[str, Any]:
        return stage_episodes(self.config.path, episodes, part)

    def finalize(self, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        c = self.config
        root = resolve(c.path)
        limits = json.loads(resolve(c.limits).read_bytes()) if c.limits else {}
        th = AuditThresholds(limits=limits)
        auditor = Auditor(th, c.check_cameras)
        for ep in staged_episodes(c.path, receipts):  # one part in memory at a time
            auditor.add(ep)
        summary = auditor.summary(f"workflow episodes -> {root.uri}", "episodes")
        other = audit_dataset(c.compare, th, c.check_cameras)[1] if c.compare else None
        root.join("summary.json").write_bytes_atomic(json.dumps(summary, indent=1).encode())
        root.join("report.html").write_bytes_atomic(render_report(summary, auditor, other).encode())
        OwnedOutput(root).complete({"summary.json", "report.html"})
        severities = Counter(f["severity"] for f in summary["findings"])
        return {
            "path": root.uri,
            "episodes": summary["episodes"],
            "frames": summary["frames"],
            "hours": summary["hours"],
            "source_kinds": summary["counts"].get("source_kind", {}),
            "tasks": len(summary["counts"].get("task", {})),
            "success_rate": summary["success_rate"],
            "distinct_instructions": summary["language"]["distinct_instructions"],
            "findings": summary["finding_counts"],
            "severities": {s: severities[s] for s in ("error", "warning", "info")},
        }

    def cleanup(self) -> None:
        clear_staging(self.config.path)  # kept until the stage is complete: a resumed finalize reads it

    @classmethod
    def describe(cls, result: dict[str, Any]) -> list[str]:
        if "episodes" not in result:
            return []
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(result["source_kinds"].items()))
        found = result["severities"]
        success = "" if result["success_rate"] is None else f", success {result['success_rate']:.0%} of labelled"
        return [
            f"dataset: {counted(result['episodes'], 'episode')}, "
            f"{counted(result['frames'], 'frame')} ({result['hours'] * 60:.1f} min) "
            f"from {kinds}{success}; {result['distinct_instructions']} distinct instructions",
            f"audit: {found['error']} error, {found['warning']} warning and {found['info']} info finding(s) "
            f"{result['findings'] or ''}; open {result['path'].removeprefix('file://')}/report.html",
        ]

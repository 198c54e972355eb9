"""``datapipe audit``, ``datapipe inspect`` and ``datapipe validate-dataset``: commands that look at a dataset."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from datapipe.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, out_console
from datapipe.engine.progress import make_console
from datapipe.errors import DatapipeError
from datapipe.wording import counted

SEVERITIES = ("info", "warning", "error")


def register(sub: Any) -> None:
    vd = sub.add_parser(
        "validate-dataset", help="check a shard dataset against its manifest (sizes, sha256, readability)"
    )
    vd.add_argument("path", help="dataset folder or URL holding index.json")
    vd.add_argument("--deep", action="store_true", help="also decode every sample")
    vd.add_argument("--no-progress", action="store_true", help="no progress bar")
    vd.set_defaults(handler=validate_dataset_command)
    au = sub.add_parser("audit", help="summary.json and report.html for a shard dataset or a LeRobot dataset")
    au.add_argument("dataset", help="dataset folder (index.json, or meta/info.json for LeRobot)")
    au.add_argument("--out", help="output folder (default: <dataset>/audit for local datasets, else ./audit)")
    au.add_argument("--compare", metavar="OTHER", help="a second dataset to compare distributions with")
    au.add_argument("--limits", metavar="FILE", help="JSON {feature: {min: [...], max: [...]}} of declared limits")
    au.add_argument("--no-cameras", action="store_true", help="skip decoding camera streams (faster)")
    au.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        metavar="SEVERITY",
        help="exit 1 when a finding of this severity or worse exists (info, warning, error)",
    )
    au.add_argument("--no-progress", action="store_true", help="no progress bar")
    au.set_defaults(handler=audit_command)
    ins = sub.add_parser(
        "inspect", help="format, episodes, features, ranges, unit and gripper guesses, and a draft standardize config"
    )
    ins.add_argument("dataset", help="a shard dataset, LeRobot dataset, HDF5 file or folder, or TFDS/RLDS folder")
    ins.add_argument("--max-episodes", type=int, default=20, help="episodes read for ranges and guesses")
    ins.add_argument("--json", action="store_true", help="print the report as JSON")
    ins.add_argument("--draft", metavar="FILE", help="write the draft standardize.embodiment config here")
    ins.set_defaults(handler=inspect_command)


def _read_limits(path: str) -> dict:
    """``--limits``: JSON ``{feature: {"min": [...], "max": [...]}}``, checked for shape."""
    import json
    from pathlib import Path

    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatapipeError(f"--limits {path}: cannot read JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DatapipeError(f"--limits {path}: expected an object {{feature: {{min: [...], max: [...]}}}}")
    for feature, spec in doc.items():
        if not isinstance(spec, dict) or set(spec) - {"min", "max"}:
            raise DatapipeError(f"--limits {path}: feature {feature!r}: expected {{min: [...], max: [...]}}")
        for key, values in spec.items():
            ok = isinstance(values, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")
                for v in values
            )
            if not ok:
                raise DatapipeError(f"--limits {path}: {feature}.{key}: expected a list of finite numbers")
    return doc


def _writable_folder(path: str, option: str):
    from pathlib import Path

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".datapipe-write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DatapipeError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return out


def audit_command(args: argparse.Namespace) -> int:
    console = make_console()
    import json

    from rich.progress import Progress

    from datapipe.audit.checks import AuditThresholds
    from datapipe.audit.datasets import audit_dataset, dataset_format
    from datapipe.audit.report import render_report
    from datapipe.audit.version import describe_version

    limits = _read_limits(args.limits) if args.limits else {}
    th = AuditThresholds(limits=limits)
    dataset_format(args.dataset)  # a path that is no dataset is said before a folder is made in it
    local = "://" not in args.dataset or args.dataset.startswith("file://")
    default_out = f"{args.dataset.removeprefix('file://')}/audit" if local else "audit"
    out = _writable_folder(args.out or default_out, "--out")
    with Progress(console=console, disable=args.no_progress, transient=True) as bar:
        task = bar.add_task(f"auditing {args.dataset}", total=None)
        auditor, summary = audit_dataset(
            args.dataset, th, not args.no_cameras, progress=lambda n: bar.update(task, completed=n)
        )
        other = audit_dataset(args.compare, th, not args.no_cameras)[1] if args.compare else None
    if other is not None:
        summary["compare"] = {"dataset": other["dataset"], "episodes": other["episodes"], "frames": other["frames"]}
    try:
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        (out / "report.html").write_text(render_report(summary, auditor, other))
    except OSError as exc:
        raise DatapipeError(f"--out {out}: cannot write the report ({exc.strerror or exc})") from None
    counts = ", ".join(f"{k} {v}" for k, v in summary["finding_counts"].items()) or "none"
    print(
        f"{args.dataset}: {counted(summary['episodes'], 'episode')}, "
        f"{counted(summary['frames'], 'frame')}, {summary['hours']:.3f} h; "
        f"findings: {counts}; wrote {out / 'summary.json'} and {out / 'report.html'} "
        f"(of {describe_version(summary['dataset_version'])})"
    )
    if args.fail_on:
        worst = SEVERITIES.index(args.fail_on)
        gating = [f for f in summary["findings"] if SEVERITIES.index(f["severity"]) >= worst]
        if gating:
            print(
                f"{len(gating)} finding(s) of severity {args.fail_on} or worse (--fail-on {args.fail_on})",
                file=sys.stderr,
            )
            return EXIT_FAILED
    return EXIT_OK


def validate_dataset_command(args: argparse.Namespace) -> int:
    path, deep, progress, console = args.path, args.deep, not args.no_progress, make_console()
    from rich.progress import Progress

    from datapipe.formats.shards.validate import validate_dataset

    with Progress(console=console, disable=not progress, transient=True) as bar:
        task = bar.add_task("checking shards", total=None)
        report = validate_dataset(path, deep=deep, progress=lambda _s: bar.advance(task))
    for p in report.problems:
        print(f"{p.kind}: {p.message}", file=sys.stderr)
    if not report.ok:
        print(f"{path}: {len(report.problems)} problem(s) in {report.shards} shards", file=sys.stderr)
        return EXIT_BAD_INPUT
    deep_note = (
        f"; deep: decoded {counted(report.decoded_episodes, 'episode')} and their "
        f"{report.decoded_videos} video(s) strictly ({counted(report.decoded_frames, 'frame')})"
        if deep
        else " (--deep also decodes every episode and video)"
    )
    print(
        f"{path}: ok, {counted(report.shards, 'shard')}, {report.samples} samples, {report.bytes / 2**20:.1f} MiB, "
        f"sha256 verified{deep_note}"
    )
    return EXIT_OK


def inspect_command(args: argparse.Namespace) -> int:
    console = out_console()
    import json
    from pathlib import Path

    from datapipe.audit.inspect import describe_fps, inspect_dataset

    report = inspect_dataset(args.dataset, max(1, args.max_episodes))
    if args.draft:
        Path(args.draft).write_text(report["draft_config"])
    if args.json:
        print(json.dumps(report, indent=1))
        return EXIT_OK
    console.print(
        f"[bold]{report['path']}[/]: {report['format']} ({report['version_of']} {report['version']}), "
        f"{counted(report['episodes'], 'episode')} ({report['episodes_read']} read, "
        f"{counted(report['frames_read'], 'frame')}), "
        f"fps {describe_fps(report['fps'])}, robot {report['robot']}",
        highlight=False,
    )
    for name, spec in report["steps"].items():
        console.print(f"  step {name}: {spec['dtype']} {spec['shape']}")
    for name, sizes in report["cameras"].items():
        console.print(f"  camera {name}: " + ", ".join(f"{s} ({counted(n, 'episode')})" for s, n in sizes.items()))
    for key in ("action", "observation.state"):
        r = report[key]
        console.print(f"  {key} min {r['min']}\n  {' ' * len(key)} max {r['max']}")
    console.print(f"  guesses: {report['guess']}")
    console.print("[bold]draft standardize.embodiment config[/] (check every line):")
    console.print(report["draft_config"], markup=False, highlight=False)
    return EXIT_OK

"""The ``datapipe`` command line.

Exit codes: 0 success, 1 the run failed, 2 bad input (workflow, arguments, a damaged dataset)
with a message that names what is wrong.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from datapipe.config import describe_fields
from datapipe.engine.progress import make_console
from datapipe.engine.registry import UnknownStageError, default_registry
from datapipe.engine.workflow import load_workflow
from datapipe.errors import DatapipeError, Terminated, is_bad_input
from datapipe.wording import counted

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
SEVERITIES = ("info", "warning", "error")


def _version() -> str:
    """datapipe's version, and the versions of what it runs on."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from datapipe import __version__

    parts = [f"datapipe {__version__}", f"Python {platform.python_version()}"]
    for dist in ("ray", "mujoco", "mediapipe", "torch"):
        try:
            parts.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            parts.append(f"{dist} (not installed)")
    return ", ".join(parts)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="datapipe",
        description="Data collection and curation for VLA robot policies.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # the version line unwrapped
    )
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a workflow")
    run.add_argument("workflow", help="workflow YAML file")
    run.add_argument("--out", help="run directory (local path or URI); default runs/<workflow name>")
    run.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else an embedded local Ray)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="STAGE_ID.PARAM=VALUE",
        help="override a stage parameter (repeatable)",
    )
    run.add_argument("--force", action="store_true", help="discard earlier work in the run directory")
    run.add_argument("--local", action="store_true", help="run without Ray, stage by stage in this process")
    run.add_argument("--no-progress", action="store_true", help="no progress bars or summary table")
    val = sub.add_parser("validate", help="validate a workflow without running it")
    val.add_argument("workflow")
    val.add_argument(
        "--explain",
        action="store_true",
        help="print the chains, each fusion decision with its reason, resources and actor pools",
    )
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="STAGE_ID.PARAM=VALUE")
    st = sub.add_parser("stages", help="list stages, or show one stage's parameters")
    st.add_argument("name", nargs="?")
    st.add_argument("--markdown", action="store_true", help="the table of stages as Markdown (the README's)")
    vd = sub.add_parser(
        "validate-dataset", help="check a shard dataset against its manifest (sizes, sha256, readability)"
    )
    vd.add_argument("path", help="dataset folder or URL holding index.json")
    vd.add_argument("--deep", action="store_true", help="also decode every sample")
    vd.add_argument("--no-progress", action="store_true")
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
    au.add_argument("--no-progress", action="store_true")
    ins = sub.add_parser(
        "inspect", help="format, episodes, features, ranges, unit and gripper guesses, and a draft standardize config"
    )
    ins.add_argument("dataset", help="a shard dataset, LeRobot dataset, HDF5 file or folder, or TFDS/RLDS folder")
    ins.add_argument("--max-episodes", type=int, default=20, help="episodes read for ranges and guesses")
    ins.add_argument("--json", action="store_true", help="print the report as JSON")
    ins.add_argument("--draft", metavar="FILE", help="write the draft standardize.embodiment config here")
    from datapipe.cli import train as train_command

    train_command.register(sub)
    _plugin_commands(sub)
    for command in sub.choices.values():
        command.formatter_class = DefaultsHelpFormatter
    return p


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none (None, False, empty) or the
    help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default in (None, False, "", [], ())
            or default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: {default})" if text else f"default: {default}"


def _plugin_commands(sub: Any) -> None:
    """Commands of the layers above the core (``datapipe evaluate`` from ``generators``...), found
    through the ``datapipe.commands`` entry point group: each is a ``register(subparsers)`` that
    adds its parser and sets ``handler``."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group="datapipe.commands"), key=lambda e: e.name):
        ep.load()(sub)


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


def _cmd_audit(args: argparse.Namespace, console: Console) -> int:
    import json

    from rich.progress import Progress

    from datapipe.audit.auditor import audit_dataset, dataset_format
    from datapipe.audit.checks import AuditThresholds
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


def _cmd_validate_dataset(path: str, deep: bool, progress: bool, console: Console) -> int:
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


def stage_file(cls: type) -> str:
    """The file that defines stage class ``cls``: relative to the source tree datapipe is installed
    from (``stages/group/name.py``), absolute for a plugin elsewhere."""
    import inspect
    import os

    path = os.path.abspath(inspect.getsourcefile(cls) or "?")
    tree = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # datapipe/cli/ -> the tree
    rel = os.path.relpath(path, tree)
    return rel if not rel.startswith("..") else path


def stages_markdown() -> str:
    """The README's table of stages: name (with its file), kind and summary."""
    registry = default_registry()
    lines = ["| name | kind | file | what it does |", "|---|---|---|---|"]
    for n in registry.names():
        cls = registry.get(n)
        lines.append(f"| `{n}` | {cls.kind} | `{stage_file(cls)}` | {cls.summary()} |")
    return "\n".join(lines) + "\n"


def _cmd_inspect(args: argparse.Namespace, console: Console) -> int:
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


def _cmd_stages(name: str | None, console: Console, markdown: bool = False) -> int:
    if markdown:
        print(stages_markdown(), end="")
        return EXIT_OK
    registry = default_registry()
    if name is None:
        table = Table(title="datapipe stages")
        for col in ("name", "kind", "version", "summary"):
            table.add_column(col)
        for n in registry.names():
            try:
                cls = registry.get(n)
                table.add_row(n, cls.kind, cls.version, cls.summary())
            except Exception as exc:  # a broken plugin must not hide the others
                table.add_row(n, "?", "?", f"[red]cannot load: {exc}[/]")
        console.print(table)
        return EXIT_OK
    try:
        cls = registry.get(name)
    except UnknownStageError as exc:
        console.print(f"[red]error:[/] {exc}")
        return EXIT_BAD_INPUT
    console.print(f"[bold]{name}[/] ({cls.kind}, version {cls.version}) in {stage_file(cls)}")
    console.print((cls.__doc__ or "").strip())
    res = cls.resources
    console.print(f"resources: cpus={res.cpus} gpus={res.gpus} memory={res.memory}")
    table = Table(title="parameters (with:)")
    for col in ("name", "type", "default", "help"):
        table.add_column(col)
    for f in describe_fields(cls.Config):
        table.add_row(f["name"], f["type"], f["default"], f["help"])
    console.print(table)
    return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    probe = Console()
    out = probe if probe.is_terminal else Console(width=160)  # no wrapping mid-sentence in pipes and logs
    err = make_console()
    if args.command == "stages":
        return _cmd_stages(args.name, out, args.markdown)
    if args.command == "audit":
        return _cmd_audit(args, err)
    if getattr(args, "handler", None) is not None:
        return args.handler(args)
    if args.command == "inspect":
        return _cmd_inspect(args, out)
    if args.command == "validate-dataset":
        return _cmd_validate_dataset(args.path, args.deep, not args.no_progress, err)
    workflow = load_workflow(args.workflow, args.overrides)
    if args.command == "validate":
        from datapipe.engine.workflow_paths import missing_inputs

        missing = missing_inputs(workflow)
        if missing:
            (sid, name, path), more = missing[0], len(missing) - 1
            others = f" (and {more} more: " + ", ".join(p for _, _, p in missing[1:]) + ")" if more else ""
            raise DatapipeError(f"{args.workflow}: stage {sid!r}: field 'with.{name}': {path}: not found{others}")
        print(
            f"{args.workflow}: valid workflow {workflow.name!r} with {len(workflow.stages)} stages: "
            + " -> ".join(s.id for s in workflow.stages)
        )
        if args.explain:
            from datapipe.engine.plan import explain

            print("\n".join(explain(workflow)))
        return EXIT_OK
    from datapipe.engine.run import run_workflow

    result = run_workflow(
        workflow,
        out=args.out,
        runner="local" if args.local else "ray",
        address=args.address,
        force=args.force,
        progress=not args.no_progress,
        console=err,
    )
    if args.no_progress:  # no table, but still where the sinks wrote
        from datapipe.engine.progress import print_sink_results

        print_sink_results(result.plan, err)
        if not result.ok:
            print(f"run failed: {result.error}", file=sys.stderr)
    return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``datapipe`` command; returns the exit code.

    Bad input (:class:`~datapipe.errors.DatapipeError`): a one-line message, exit 2. Ctrl-C:
    exit 130; SIGTERM: exit 143. Anything else is a bug: the traceback, exit 1.
    """
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except Terminated:
        print("terminated (SIGTERM): the run directory says interrupted; run again to resume", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if is_bad_input(exc):
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_BAD_INPUT
        traceback.print_exc()
        print(
            "datapipe failed with an unexpected error (a bug: please report it with the traceback above)",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

"""``datapipe run``, ``datapipe validate`` and ``datapipe stages``: commands about workflows and stages."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.table import Table

from datapipe.cli.common import EXIT_BAD_INPUT, EXIT_OK, out_console
from datapipe.config import describe_fields
from datapipe.engine.progress import make_console
from datapipe.engine.registry import UnknownStageError, default_registry
from datapipe.engine.workflow import load_workflow
from datapipe.errors import DatapipeError


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="STAGE_ID.PARAM=VALUE",
        help="override a stage parameter (repeatable)",
    )


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run a workflow")
    run.add_argument("workflow", help="workflow YAML file")
    run.add_argument("--out", help="run directory (local path or URI); default runs/<workflow name>")
    run.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else an embedded local Ray)")
    _add_overrides(run)
    run.add_argument("--force", action="store_true", help="discard earlier work in the run directory")
    run.add_argument("--local", action="store_true", help="run without Ray, stage by stage in this process")
    run.add_argument("--no-progress", action="store_true", help="no progress bars or summary table")
    run.set_defaults(handler=run_command)
    val = sub.add_parser("validate", help="validate a workflow without running it")
    val.add_argument("workflow", help="workflow YAML file")
    val.add_argument(
        "--explain",
        action="store_true",
        help="print the chains, each fusion decision with its reason, resources and actor pools",
    )
    _add_overrides(val)
    val.set_defaults(handler=validate_command)
    st = sub.add_parser("stages", help="list stages, or show one stage's parameters")
    st.add_argument("name", nargs="?")
    st.add_argument("--markdown", action="store_true", help="the table of stages as Markdown (the README's)")
    st.set_defaults(handler=stages_command)


def validate_command(args: argparse.Namespace) -> int:
    from datapipe.engine.workflow_paths import missing_inputs

    workflow = load_workflow(args.workflow, args.overrides)
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


def run_command(args: argparse.Namespace) -> int:
    from datapipe.engine.run import run_workflow

    workflow = load_workflow(args.workflow, args.overrides)
    err = make_console()
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


def stages_command(args: argparse.Namespace) -> int:
    name, console, markdown = args.name, out_console(), args.markdown
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

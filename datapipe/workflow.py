"""Workflow files: parse, validate and describe a DAG of stages (no execution here).

A workflow file is YAML (see ``schemas/workflow.schema.json`` and the README). Validation runs
before anything executes and raises :class:`WorkflowError` naming the file, the stage id and the
field for: malformed structure, unknown stage, unknown or ill-typed parameter, unknown ``needs``,
duplicate ids, cycles, and stages wired against their kind (a source with ``needs``...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from datapipe.config import ConfigError, build_config, config_to_dict
from datapipe.hashing import config_hash
from datapipe.registry import Registry, UnknownStageError, default_registry
from datapipe.stage import Resources, Stage
from schemas import workflow as workflow_schema

DEFAULT_BATCH_SIZE = 16
DEFAULT_MAX_ERROR_RATE = 0.05


class WorkflowError(ValueError):
    """A workflow file is invalid. Attributes name the file, the stage id and the field."""

    def __init__(self, file: str, stage_id: str | None, field: str | None, message: str):
        self.file, self.stage_id, self.field, self.message = file, stage_id, field, message
        where = [file]
        if stage_id is not None:
            where.append(f"stage {stage_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(": ".join(where) + ": " + message)


@dataclass(frozen=True)
class StageSpec:
    """One stage of a workflow, validated: its class, built config and execution settings."""

    id: str
    uses: str
    stage_cls: type[Stage]
    config: Any
    needs: tuple[str, ...]
    resources: Resources
    concurrency: int | tuple[int, int] | None
    batch_size: int
    max_error_rate: float
    checkpoint: bool = False

    @property
    def kind(self) -> str:
        """``source``, ``transform`` or ``sink``."""
        return self.stage_cls.kind

    @property
    def config_hash(self) -> str:
        """Hash of stage name, version and config (see :mod:`datapipe.hashing`)."""
        return config_hash(self.uses, self.stage_cls.version, config_to_dict(self.config))

    def instantiate(self) -> Stage:
        """A stage object with this config (``setup`` not yet called)."""
        return self.stage_cls(self.config)


@dataclass(frozen=True)
class Workflow:
    """A validated workflow: stages in a topological order (every stage after its needs)."""

    name: str
    path: str
    stages: tuple[StageSpec, ...]
    description: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def stage(self, stage_id: str) -> StageSpec:
        """The stage with id ``stage_id``."""
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise KeyError(stage_id)

    def consumers(self, stage_id: str) -> list[StageSpec]:
        """Stages that list ``stage_id`` in their ``needs``."""
        return [s for s in self.stages if stage_id in s.needs]


def _parse_scalar(text: str) -> Any:
    """A ``--set`` value: YAML scalar/flow syntax (``3``, ``0.5``, ``true``, ``[a, b]``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(doc: dict[str, Any], overrides: Sequence[str], file: str) -> dict[str, Any]:
    """Apply ``STAGE_ID.PARAM=VALUE`` overrides to the ``with:`` of stages in a parsed file."""
    stages = {s.get("id"): s for s in doc.get("stages", []) if isinstance(s, dict)}
    for item in overrides:
        key, sep, value = item.partition("=")
        stage_id, dot, param = key.partition(".")
        if not sep or not dot or not param:
            raise WorkflowError(file, None, "--set", f"{item!r} is not STAGE_ID.PARAM=VALUE")
        if stage_id not in stages:
            raise WorkflowError(file, stage_id, "--set", f"no stage with id {stage_id!r} in {item!r}")
        stages[stage_id].setdefault("with", {})
        if not isinstance(stages[stage_id]["with"], dict):
            raise WorkflowError(file, stage_id, "with", "must be a mapping")
        stages[stage_id]["with"][param] = _parse_scalar(value)
    return doc


def _schema_error(file: str, doc: Any, err: jsonschema.ValidationError) -> WorkflowError:
    path = list(err.absolute_path)
    stage_id = None
    if len(path) >= 2 and path[0] == "stages" and isinstance(path[1], int):
        entry = doc["stages"][path[1]]
        stage_id = entry.get("id", f"#{path[1] + 1}") if isinstance(entry, dict) else f"#{path[1] + 1}"
        path = path[2:]
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return WorkflowError(file, stage_id, ".".join(map(str, [*path, *extra[:1]])) or None,
                             f"unknown field; allowed: {', '.join(err.schema.get('properties', {}))}")
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return WorkflowError(file, stage_id, ".".join(map(str, [*path, missing])), "is required")
    return WorkflowError(file, stage_id, ".".join(map(str, path)) or None, err.message)


def _toposort(file: str, specs: dict[str, dict[str, Any]]) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = trail[trail.index(node):] + [node]
            raise WorkflowError(file, node, "needs", "cycle: " + " -> ".join(cycle))
        state[node] = 1
        for dep in specs[node].get("needs", []):
            visit(dep, [*trail, node])
        state[node] = 2
        order.append(node)

    for node in specs:
        visit(node, [])
    return order


def parse_workflow(
    doc: Any, file: str = "<workflow>", registry: Registry | None = None
) -> Workflow:
    """Validate a parsed workflow document and return a :class:`Workflow`."""
    registry = registry or default_registry()
    validator = jsonschema.Draft202012Validator(workflow_schema.load())
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), str(e.path)))
    if errors:
        raise _schema_error(file, doc, errors[0])
    defaults = doc.get("defaults", {})
    raw_stages: dict[str, dict[str, Any]] = {}
    for entry in doc["stages"]:
        if entry["id"] in raw_stages:
            raise WorkflowError(file, entry["id"], "id", "duplicate stage id")
        raw_stages[entry["id"]] = entry
    for sid, entry in raw_stages.items():
        for dep in entry.get("needs", []):
            if dep not in raw_stages:
                raise WorkflowError(file, sid, "needs", f"unknown stage id {dep!r}; "
                                    f"defined: {', '.join(raw_stages)}")
    order = _toposort(file, raw_stages)
    specs: dict[str, StageSpec] = {}
    for sid in order:
        entry = raw_stages[sid]
        try:
            cls = registry.get(entry["uses"])
        except UnknownStageError as exc:
            raise WorkflowError(file, sid, "uses", str(exc)) from None
        try:
            config = build_config(cls.Config, entry.get("with"))
        except ConfigError as exc:
            raise WorkflowError(file, sid, f"with.{exc.field}", str(exc)) from None
        needs = tuple(entry.get("needs", []))
        if cls.kind == "source" and needs:
            raise WorkflowError(file, sid, "needs", f"{entry['uses']} is a source and takes no needs")
        if cls.kind != "source" and not needs:
            raise WorkflowError(file, sid, "needs", f"{entry['uses']} is a {cls.kind} and needs an upstream stage")
        for dep in needs:
            if specs[dep].kind == "sink":
                raise WorkflowError(file, sid, "needs", f"{dep!r} is a sink; sinks have no outputs to consume")
        res = {**{"cpus": cls.resources.cpus, "gpus": cls.resources.gpus,
                  "memory": cls.resources.memory}, **entry.get("resources", {})}
        conc = entry.get("concurrency")
        if isinstance(conc, list):
            if conc[0] > conc[1]:
                raise WorkflowError(file, sid, "concurrency", f"min {conc[0]} is above max {conc[1]}")
            conc = (conc[0], conc[1])
        specs[sid] = StageSpec(
            id=sid,
            uses=entry["uses"],
            stage_cls=cls,
            config=config,
            needs=needs,
            resources=Resources(cpus=float(res["cpus"]), gpus=float(res["gpus"]), memory=res["memory"]),
            concurrency=conc,
            batch_size=entry.get("batch_size", cls.default_batch_size or defaults.get("batch_size", DEFAULT_BATCH_SIZE)),
            max_error_rate=float(entry.get("max_error_rate",
                                           defaults.get("max_error_rate", DEFAULT_MAX_ERROR_RATE))),
            checkpoint=bool(entry.get("checkpoint", defaults.get("checkpoint", False))),
        )
    return Workflow(name=doc["name"], path=file, stages=tuple(specs[s] for s in order),
                    description=doc.get("description", ""), raw=doc)


def load_workflow(
    path: str | Path, overrides: Sequence[str] = (), registry: Registry | None = None
) -> Workflow:
    """Read, override (``STAGE_ID.PARAM=VALUE``) and validate a workflow YAML file."""
    file = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise WorkflowError(file, None, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise WorkflowError(file, None, None, f"not valid YAML{line}: "
                            f"{getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise WorkflowError(file, None, None, "a workflow file is a mapping with name and stages")
    doc = apply_overrides(doc, overrides, file)
    return parse_workflow(doc, file, registry)

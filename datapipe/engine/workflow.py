"""Workflow files: parse, validate and describe a DAG of stages (no execution here).

A workflow file is YAML (see ``schemas/workflow.schema.json`` and the README). Validation runs
before anything executes and raises :class:`WorkflowError` naming the file, the stage id and the
field for: malformed structure, unknown stage, unknown or ill-typed parameter, unknown ``needs``,
duplicate ids, cycles, and stages wired against their kind (a source with ``needs``...).
"""

from __future__ import annotations

import functools
import graphlib
import heapq
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from datapipe.config import ConfigError, build_config, config_to_dict
from datapipe.engine.hashing import config_hash
from datapipe.engine.registry import Registry, UnknownStageError, default_registry
from datapipe.engine.stage import Resources, Stage, Wiring
from datapipe.engine.workflow_paths import resolve_workflow_inputs
from datapipe.engine.workflow_yaml import MAX_FILE_BYTES, WorkflowError, parse_yaml, stage_of
from datapipe.schemas import workflow as workflow_schema
from datapipe.storage import resolve

DEFAULT_BATCH_SIZE = 16
DEFAULT_MAX_ERROR_RATE = 0.05


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
    after: tuple[str, ...] = ()  # sinks this stage starts after (finalized), without reading their episodes

    @property
    def kind(self) -> str:
        """``source``, ``transform`` or ``sink``."""
        return self.stage_cls.kind

    @functools.cached_property
    def config_hash(self) -> str:
        """Hash of stage name, version, config and :meth:`Stage.fingerprint` (the contents a
        parameter names: a dataset config's text, a source's listed files), taken once per
        workflow load (see :mod:`datapipe.engine.hashing`)."""
        extra = self.stage_cls.fingerprint(self.config)
        return config_hash(self.uses, self.stage_cls.version, {**config_to_dict(self.config), **extra})

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


def _parse_scalar(text: str, file: str) -> Any:
    """A ``--set`` value: YAML scalar/flow syntax (``3``, ``0.5``, ``true``, ``[a, b]``), bounded
    like the file; text that is not YAML stays text."""
    try:
        return parse_yaml(text, f"{file}: --set")
    except WorkflowError as exc:
        if "not valid YAML" in exc.message:
            return text
        raise


def apply_overrides(doc: dict[str, Any], overrides: Sequence[str], file: str) -> dict[str, Any]:
    """Apply ``STAGE_ID.PARAM=VALUE`` overrides to the ``with:`` of stages in a parsed file."""
    entries = doc.get("stages")
    stages = {
        s["id"]: s
        for s in (entries if isinstance(entries, list) else [])
        if isinstance(s, dict) and isinstance(s.get("id"), str)
    }
    for item in overrides:
        key, sep, value = item.partition("=")
        stage_id, dot, param = key.partition(".")
        if not sep or not dot or not param:
            raise WorkflowError(file, None, "--set", f"{item!r} is not STAGE_ID.PARAM=VALUE")
        if stage_id not in stages:
            raise WorkflowError(file, stage_id, "--set", f"no stage with id {stage_id!r} in {item!r}")
        if stages[stage_id].get("with") is None:
            stages[stage_id]["with"] = {}
        if not isinstance(stages[stage_id]["with"], dict):
            raise WorkflowError(file, stage_id, "with", "must be a mapping")
        stages[stage_id]["with"][param] = _parse_scalar(value, file)
    return doc


def _schema_error(file: str, doc: Any, err: jsonschema.ValidationError) -> WorkflowError:
    stage_id, path = stage_of(doc, list(err.absolute_path))
    if err.validator == "additionalProperties":
        extra = sorted(map(str, set(err.instance) - set(err.schema.get("properties", {}))))
        return WorkflowError(
            file,
            stage_id,
            ".".join(map(str, [*path, *extra[:1]])) or None,
            f"unknown field; allowed: {', '.join(err.schema.get('properties', {}))}",
        )
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return WorkflowError(file, stage_id, ".".join(map(str, [*path, missing])), "is required")
    message = err.message if len(err.message) <= 300 else err.message[:297] + "..."
    return WorkflowError(file, stage_id, ".".join(map(str, path)) or None, message)


def _deps(entry: dict[str, Any]) -> list[str]:
    """What a stage waits for: its ``needs`` (episodes) and its ``after`` (finalized sinks)."""
    return [*entry.get("needs", []), *entry.get("after", [])]


def _toposort(file: str, specs: dict[str, dict[str, Any]]) -> list[str]:
    """Stage ids, every stage after its needs and otherwise in file order (``graphlib``, Kahn's
    algorithm taking the earliest ready stage each time); a cycle raises :class:`WorkflowError`
    naming it, from the stage that comes first in the file."""
    ids = list(specs)
    position = {sid: i for i, sid in enumerate(ids)}
    sorter = graphlib.TopologicalSorter({sid: _deps(entry) for sid, entry in specs.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        ring = list(reversed(exc.args[1]))[:-1]  # graphlib lists predecessors first; we say "needs"
        first = min(range(len(ring)), key=lambda i: position[ring[i]])
        ring = ring[first:] + ring[:first]
        raise WorkflowError(file, ring[0], "needs", "cycle: " + " -> ".join([*ring, ring[0]])) from None
    order: list[str] = []
    ready: list[int] = []
    while sorter.is_active():
        for sid in sorter.get_ready():
            heapq.heappush(ready, position[sid])
        sid = ids[heapq.heappop(ready)]
        order.append(sid)
        sorter.done(sid)
    return order


def check_wiring(file: str, specs: list[StageSpec]) -> dict[str, Wiring]:
    """What each stage's episodes carry (``Stage.produces``), checked against what each stage
    requires (``Stage.requires``) from every one of its upstream stages; a requirement that an
    upstream stage does not provide raises :class:`WorkflowError` naming both stage ids and the
    missing step array or camera. ``specs`` in topological order."""
    wiring: dict[str, Wiring] = {}
    uses = {s.id: s.uses for s in specs}
    for spec in specs:
        need = spec.stage_cls.requires(spec.config)
        for up in spec.needs:
            have = wiring[up]
            if have.open:
                continue  # known only when running
            for kind, missing, offered in (
                ("step array", need.steps - have.steps, have.steps),
                ("camera", need.cameras - have.cameras, have.cameras),
            ):
                if missing:
                    raise WorkflowError(
                        file,
                        spec.id,
                        "needs",
                        (
                            f"{spec.uses} requires the {kind} {sorted(missing)[0]!r}, which upstream stage {up!r} "
                            f"({uses[up]}) does not provide (it provides: {', '.join(sorted(offered)) or 'none'})"
                        ),
                    )
        upstream = Wiring.fan_in(wiring[n] for n in spec.needs)
        wiring[spec.id] = spec.stage_cls.produces(spec.config, upstream)
    return wiring


NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")  # a workflow name: runs/<name> is its default run directory
STAGE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")  # a stage id: part of its folder's name


def _check_names(file: str, doc: dict[str, Any]) -> None:
    """The workflow name and stage ids are whole-string matches (a trailing newline, ``..`` or a
    300-character id would name folders of the run directory)."""
    name = doc["name"]
    if not NAME.fullmatch(name) or name in (".", ".."):
        raise WorkflowError(file, None, "name", f"{name!r} is not a name: 1-100 of A-Z a-z 0-9 _ . - (not '.' or '..')")
    for entry in doc["stages"]:
        sid = entry["id"]
        if not STAGE_ID.fullmatch(sid):
            shown = sid if len(sid) <= 80 else sid[:77] + "..."
            raise WorkflowError(
                file, None, "stages.id", f"{shown!r} is not a stage id: a letter or _, then up to 63 of A-Z a-z 0-9 _ -"
            )


def _check_text(file: str, doc: Any) -> None:
    """Refuse text that no file system or encoder takes: NUL characters and lone surrogates
    (``"\\ud800"`` in YAML or ``--set``), in keys and values, naming where."""
    stack: list[tuple[Any, list[Any]]] = [(doc, [])]
    while stack:
        value, path = stack.pop()
        texts = [value] if isinstance(value, str) else list(value) if isinstance(value, dict) else []
        for text in texts:
            if not isinstance(text, str):
                continue
            problem = "a NUL character" if "\0" in text else None
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                problem = f"a lone surrogate (U+{ord(text[exc.start]):04X})"
            if problem:
                stage_id, rest = stage_of(doc, path) if path[:1] == ["stages"] else (None, path)
                raise WorkflowError(file, stage_id, ".".join(map(str, rest)) or None, f"holds {problem}: {text!a:.80}")
        if isinstance(value, dict):
            stack.extend((v, [*path, k]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(value))


def _check_sink_paths(file: str, specs: list[StageSpec]) -> None:
    """Every sink writes a folder of its own: an empty path (a template with an unset variable)
    would write into the current directory, and two sinks sharing a folder, or one inside the
    other's, would delete each other's files."""
    claimed: list[tuple[str, str]] = []
    for spec in specs:
        path = getattr(spec.config, "path", None) if spec.kind == "sink" else None
        if not isinstance(path, str):
            continue
        if not path.strip():
            raise WorkflowError(
                file, spec.id, "with.path", f"is empty ({path!r}); give the folder this sink writes (it owns it)"
            )
        uri = resolve(path).uri.rstrip("/")
        for other_id, other in claimed:
            if uri == other or uri.startswith(other + "/") or other.startswith(uri + "/"):
                how = "is the same folder as" if uri == other else "is inside" if len(uri) > len(other) else "holds"
                raise WorkflowError(
                    file,
                    spec.id,
                    "with.path",
                    f"{uri} {how} the path of sink {other_id!r} ({other}); every sink needs a folder of its own",
                )
        claimed.append((spec.id, uri))


def parse_workflow(doc: Any, file: str = "<workflow>", registry: Registry | None = None) -> Workflow:
    """Validate a parsed workflow document and return a :class:`Workflow`."""
    registry = registry or default_registry()
    validator = jsonschema.Draft202012Validator(workflow_schema.load())
    errors = sorted(validator.iter_errors(doc), key=lambda e: (len(e.absolute_path), str(e.path)))
    if errors:
        raise _schema_error(file, doc, errors[0])
    _check_text(file, doc)
    _check_names(file, doc)
    defaults = doc.get("defaults", {})
    raw_stages: dict[str, dict[str, Any]] = {}
    for entry in doc["stages"]:
        if entry["id"] in raw_stages:
            raise WorkflowError(file, entry["id"], "id", "duplicate stage id")
        raw_stages[entry["id"]] = entry
    for sid, entry in raw_stages.items():
        for key in ("needs", "after"):
            for dep in entry.get(key, []):
                if dep not in raw_stages:
                    raise WorkflowError(file, sid, key, f"unknown stage id {dep!r}; defined: {', '.join(raw_stages)}")
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
            raise WorkflowError(file, sid, f"with.{exc.field}" if exc.field != "with" else "with", str(exc)) from None
        needs = tuple(entry.get("needs", []))
        if cls.kind == "source" and needs:
            raise WorkflowError(file, sid, "needs", f"{entry['uses']} is a source and takes no needs")
        if cls.kind != "source" and not needs:
            raise WorkflowError(file, sid, "needs", f"{entry['uses']} is a {cls.kind} and needs an upstream stage")
        for dep in needs:
            if specs[dep].kind == "sink":
                raise WorkflowError(
                    file,
                    sid,
                    "needs",
                    f"{dep!r} is a sink; sinks have no outputs to consume (to wait for it, name it in after)",
                )
        after = tuple(entry.get("after", []))
        for dep in after:
            if specs[dep].kind != "sink":
                raise WorkflowError(
                    file, sid, "after", f"{dep!r} is a {specs[dep].kind}; after names sinks (their output is final)"
                )
        res = {
            **{"cpus": cls.resources.cpus, "gpus": cls.resources.gpus, "memory": cls.resources.memory},
            **entry.get("resources", {}),
        }
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
            batch_size=entry.get(
                "batch_size", cls.default_batch_size or defaults.get("batch_size", DEFAULT_BATCH_SIZE)
            ),
            max_error_rate=float(entry.get("max_error_rate", defaults.get("max_error_rate", DEFAULT_MAX_ERROR_RATE))),
            checkpoint=bool(entry.get("checkpoint", defaults.get("checkpoint", False))),
            after=after,
        )
    check_wiring(file, [specs[s] for s in order])
    _check_sink_paths(file, [specs[s] for s in order])
    return Workflow(
        name=doc["name"],
        path=file,
        stages=tuple(specs[s] for s in order),
        description=doc.get("description", ""),
        raw=doc,
    )


def load_workflow(path: str | Path, overrides: Sequence[str] = (), registry: Registry | None = None) -> Workflow:
    """Read, override (``STAGE_ID.PARAM=VALUE``) and validate a workflow YAML file."""
    file = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise WorkflowError(file, None, None, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise WorkflowError(file, None, None, f"larger than {MAX_FILE_BYTES} bytes; a workflow file is small")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowError(file, None, None, f"not UTF-8 text (byte {exc.start})") from None
    doc = parse_yaml(text, file)
    if not isinstance(doc, dict):
        raise WorkflowError(file, None, None, "a workflow file is a mapping with name and stages")
    registry = registry or default_registry()
    # inputs written in the file are relative to the file; --set values to the working directory
    doc = resolve_workflow_inputs(doc, Path(file).resolve().parent, registry)
    doc = apply_overrides(doc, overrides, file)
    return parse_workflow(doc, file, registry)

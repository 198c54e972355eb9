"""Paths in a workflow file: inputs resolve against the file's folder, outputs against the
working directory.

A stage names the config fields that are its inputs (:attr:`~datapipe.engine.stage.Stage.input_fields`:
dataset configs, source files and folders, video globs, model and image folders) and those that
hold a name or a path (:attr:`~datapipe.engine.stage.Stage.name_or_path_fields`: a robot, a policy).
When a workflow is loaded from a file, a relative local input in it becomes a path under the
file's folder, so ``datapipe run /elsewhere/workflows/demo.yaml`` reads the same inputs from any
directory; a name-or-path field is resolved that way only when that file exists next to the
workflow (else it stays a name or a policy spec, or, holding a ``/``, becomes a path in the
working directory, where a run's own outputs are). Outputs (:attr:`~datapipe.engine.stage.Stage.
output_fields`: a sink's folder) are relative to the working directory, made absolute when the
workflow is loaded. ``--set`` overrides are typed in a shell and stay relative to the working
directory.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from datapipe.engine.registry import Registry, UnknownStageError


def _is_relative_local(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and "://" not in value and not os.path.isabs(value)


def _under(folder: Path, value: str) -> str:
    return os.path.normpath(os.path.join(folder, os.path.expanduser(value)))


def _stage_class(entry: Any, registry: Registry) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("uses"), str) or not isinstance(entry.get("with"), dict):
        return None
    try:
        return registry.get(entry["uses"])
    except UnknownStageError:
        return None  # validation names it


def resolve_workflow_inputs(doc: Any, folder: Path, registry: Registry) -> Any:
    """``doc`` (a parsed workflow) with its stages' relative local inputs made paths under
    ``folder`` (the workflow file's) and its outputs absolute paths in the working directory (so
    workers in another directory, or on another machine, write where the user meant); anything
    malformed is left for validation to name."""
    if not isinstance(doc, dict) or not isinstance(doc.get("stages"), list):
        return doc
    stages = []
    for entry in doc["stages"]:
        cls = _stage_class(entry, registry)
        if cls is None:
            stages.append(entry)
            continue
        params = dict(entry["with"])
        for name in cls.input_fields:
            value = params.get(name)
            if _is_relative_local(value):
                params[name] = _under(folder, value)
            elif isinstance(value, list):
                params[name] = [_under(folder, v) if _is_relative_local(v) else v for v in value]
        for name in cls.name_or_path_fields:
            value = params.get(name)
            if _is_relative_local(value) and os.path.exists(_under(folder, value)):
                params[name] = _under(folder, value)
            elif _is_relative_local(value) and ("/" in value or os.sep in value):
                params[name] = _under(Path.cwd(), value)  # a path, not a name: the working directory's
        for name in cls.output_fields:
            if _is_relative_local(params.get(name)):
                params[name] = _under(Path.cwd(), params[name])
        stages.append({**entry, "with": params})
    return {**doc, "stages": stages}


def missing_inputs(workflow: Any) -> list[tuple[str, str, str]]:
    """``(stage id, field, path)`` of each local input of ``workflow`` that does not exist now: a
    file or folder that is not there, or a glob that matches nothing (unless the stage allows an
    empty source)."""
    missing = []
    for spec in workflow.stages:
        for name in spec.stage_cls.input_fields:
            value = getattr(spec.config, name, None)
            values = [value] if isinstance(value, str) else list(value or ()) if isinstance(value, tuple) else []
            for path in values:
                if not isinstance(path, str) or not path or "://" in path:
                    continue
                if glob.has_magic(path):
                    if not glob.glob(path) and not getattr(spec.config, "allow_empty", False):
                        missing.append((spec.id, name, path))
                elif not Path(path).exists():
                    missing.append((spec.id, name, path))
    return missing

"""Reading a workflow file's YAML safely (:func:`parse_yaml`), and the error every check of a
workflow file raises (:class:`WorkflowError`, naming the file, the stage id and the field).

The YAML is bounded before it is built: at most :data:`MAX_NODES` values once aliases expand (an
alias bomb expands to billions), :data:`MAX_DEPTH` levels, :data:`MAX_SCALAR` characters per value,
no key written twice in one mapping, and no NaN or infinite number.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from datapipe.errors import DatapipeError


class WorkflowError(DatapipeError):
    """A workflow file is invalid. Attributes name the file, the stage id and the field."""

    def __init__(self, file: str, stage_id: str | None, field: str | None, message: str):
        self.file, self.stage_id, self.field, self.message = file, stage_id, field, message
        where = [file]
        if stage_id is not None:
            where.append(f"stage {stage_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(": ".join(where) + ": " + message)


def stage_of(doc: Any, path: list[Any]) -> tuple[str | None, list[Any]]:
    """The stage a document path points into (its id, or ``#n`` when it has no usable id) and the
    rest of the path; ``(None, path)`` outside ``stages``."""
    if len(path) >= 2 and path[0] == "stages" and isinstance(path[1], int):
        entry = doc["stages"][path[1]]
        sid = entry.get("id") if isinstance(entry, dict) else None
        return (sid if isinstance(sid, str) and len(sid) <= 100 else f"#{path[1] + 1}"), path[2:]
    return None, path


MAX_FILE_BYTES = 1 << 20  # a workflow file
MAX_NODES = 100_000  # YAML nodes after alias expansion (an alias bomb expands to billions)
MAX_DEPTH = 40  # nesting of mappings and lists
MAX_SCALAR = 100_000  # characters of one value
MAX_INT_DIGITS = 30


def _check_yaml_bounds(file: str, root: yaml.Node) -> None:
    """Refuse a composed YAML document that is too large once aliases expand, too deep, or holds
    oversized values; without recursion, each node counted once per place it is used."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        where = f"line {node.start_mark.line + 1}"
        if depth > MAX_DEPTH:
            raise WorkflowError(file, None, None, f"nested deeper than {MAX_DEPTH} levels at {where}")
        if isinstance(node, yaml.ScalarNode):
            if len(node.value) > MAX_SCALAR:
                raise WorkflowError(
                    file, None, None, f"a value of {len(node.value)} characters at {where} (at most {MAX_SCALAR})"
                )
            if node.tag.endswith(":int") and len(node.value.lstrip("+-")) > MAX_INT_DIGITS:
                raise WorkflowError(file, None, None, f"an integer of {len(node.value)} digits at {where}")
            sizes[id(node)] = 1
            continue
        if isinstance(node, yaml.MappingNode) and not children_done:
            _check_unique_keys(file, node)
        children = [c for kv in node.value for c in kv] if isinstance(node, yaml.MappingNode) else list(node.value)
        if id(node) in sizes:
            continue
        if not children_done:
            stack.append((node, depth, True))
            stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in children)
        if sizes[id(node)] > MAX_NODES:
            raise WorkflowError(
                file,
                None,
                None,
                f"more than {MAX_NODES} values once YAML aliases expand (at {where}); write the values out",
            )


def _check_unique_keys(file: str, node: yaml.MappingNode) -> None:
    """Refuse a key written twice in one mapping (YAML loaders silently keep the last one)."""
    seen: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag.endswith(":merge"):
            continue
        line = key.start_mark.line + 1
        if key.value in seen:
            raise WorkflowError(
                file, None, None, f"key {key.value!r} appears twice (lines {seen[key.value]} and {line}); keep one"
            )
        seen[key.value] = line


def _check_finite(file: str, doc: Any) -> None:
    """Refuse NaN and infinite numbers anywhere in the document, naming where."""
    stack: list[tuple[Any, list[Any]]] = [(doc, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            stage_id, rest = stage_of(doc, path)
            raise WorkflowError(file, stage_id, ".".join(map(str, rest)) or None, f"{value} is not a finite number")
        if isinstance(value, dict):
            stack.extend((v, [*path, k]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(value))


def parse_yaml(text: str, file: str) -> Any:
    """A workflow file's YAML, bounded (see ``MAX_*``); errors name the file and the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        _check_yaml_bounds(file, node)
        doc = yaml.SafeLoader(text).construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise WorkflowError(file, None, None, f"not valid YAML{line}: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise WorkflowError(file, None, None, f"nested deeper than {MAX_DEPTH} levels") from None
    except WorkflowError:
        raise
    except ValueError as exc:  # a value YAML cannot convert (an integer beyond Python's digit limit...)
        raise WorkflowError(file, None, None, f"a value cannot be read: {exc}") from None
    _check_finite(file, doc)
    return doc

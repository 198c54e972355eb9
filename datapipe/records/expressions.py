"""Safe boolean expressions over an episode's metadata and sizes, for ``filter.expr``.

The grammar is a small subset of Python: literals, names, ``meta["key"]`` / ``meta.get("key", d)``,
comparisons (chained too), ``and`` / ``or`` / ``not``, arithmetic, ``in``, and the functions
``len``, ``abs``, ``min``, ``max``, ``any``, ``all``. No attribute access other than ``meta.get``,
no imports, no comprehensions. Names available: see :func:`episode_namespace`.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

from datapipe.errors import DatapipeError
from datapipe.records import Episode

FUNCTIONS = {"len": len, "abs": abs, "min": min, "max": max, "any": any, "all": all}
NAMES = (
    "length",
    "fps",
    "duration_s",
    "success",
    "task",
    "meta",
    "source_kind",
    "source_uri",
    "robot",
    "cameras",
    "steps",
    "n_interventions",
)
_BIN = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv,
}
_CMP = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}


class ExpressionError(DatapipeError):
    """An expression uses something outside the allowed grammar or names."""


def episode_namespace(ep: Episode) -> dict[str, Any]:
    """The names an expression can use, for one episode.

    length: steps; fps: Hz; duration_s: seconds; success: bool or None; task: list of str;
    meta: dict; source_kind, source_uri, robot: str; cameras: list of names; steps: list of
    step-array names; n_interventions: steps with ``is_intervention`` set.
    """
    return {
        "length": ep.length,
        "fps": ep.fps,
        "duration_s": ep.duration_s,
        "success": ep.success,
        "task": list(ep.task),
        "meta": dict(ep.meta),
        "source_kind": ep.source.kind,
        "source_uri": ep.source.uri,
        "robot": ep.embodiment.robot,
        "cameras": list(ep.cameras),
        "steps": list(ep.steps),
        "n_interventions": int(ep.steps["is_intervention"].sum()),
    }


MAX_LENGTH = 4000  # characters of an expression
MAX_DEPTH = 60  # nesting of the parsed expression


def _depth(tree: ast.AST) -> int:
    """Nesting depth of ``tree``, computed without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d + 1) for child in ast.iter_child_nodes(node))
    return deepest


def compile_expression(text: str) -> ast.Expression:
    """Parse and check ``text``; raise :class:`ExpressionError` naming the offending part.

    Expressions are bounded: at most ``MAX_LENGTH`` characters and ``MAX_DEPTH`` levels of nesting
    (evaluation recurses)."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression of {len(text)} characters is longer than {MAX_LENGTH}: {shown!r}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = exc.offset or 0
        where = (
            f"at column {col} ({text[col - 1 : col + 19]!r})"
            if 1 <= col <= len(text)
            else f"at the end (column {len(text) + 1}: the expression stops too early)"
        )
        raise ExpressionError(f"invalid expression {shown!r}: {exc.msg} {where}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"expression nested too deeply: {shown!r}") from None
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"expression nested deeper than {MAX_DEPTH} levels: {shown!r}")
    text = shown
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and node.id not in NAMES
            and node.id not in FUNCTIONS
            and node.id not in ("True", "False", "None")
        ):
            raise ExpressionError(f"unknown name {node.id!r} in {text!r}; known: {', '.join(NAMES)}")
        if isinstance(node, ast.Attribute) and not (
            node.attr == "get" and isinstance(node.value, ast.Name) and node.value.id == "meta"
        ):
            raise ExpressionError(f"attribute access .{node.attr} is not allowed in {text!r}")
        allowed = (
            ast.Expression,
            ast.BoolOp,
            ast.And,
            ast.Or,
            ast.UnaryOp,
            ast.Not,
            ast.USub,
            ast.UAdd,
            ast.BinOp,
            ast.Compare,
            ast.Call,
            ast.Name,
            ast.Load,
            ast.Constant,
            ast.Subscript,
            ast.Attribute,
            ast.List,
            ast.Tuple,
            *(_BIN),
            *(_CMP),
        )
        if not isinstance(node, allowed):
            raise ExpressionError(f"{type(node).__name__} is not allowed in {text!r}")
    return tree


def check_expression(text: str, field: str = "expr") -> None:
    """For a config's ``__post_init__``: :func:`compile_expression`, with errors on ``field``
    (surfacing when the workflow is validated)."""
    from datapipe.config import ConfigError

    try:
        compile_expression(text)
    except ExpressionError as exc:
        raise ConfigError(field, str(exc)) from None


def evaluate(tree: ast.Expression, names: dict[str, Any]) -> Any:
    """Evaluate a checked expression against ``names``."""
    return _eval(tree.body, names)


def _eval(node: ast.AST, env: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in env:
            return env[node.id]
        return FUNCTIONS[node.id]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_eval(v, env) for v in node.values)
        return any(_eval(v, env) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        return (not v) if isinstance(node.op, ast.Not) else (-v if isinstance(node.op, ast.USub) else +v)
    if isinstance(node, ast.BinOp):
        return _BIN[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp, env)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Subscript):
        return _eval(node.value, env)[_eval(node.slice, env)]
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):  # meta.get(...)
            return env["meta"].get(*[_eval(a, env) for a in node.args])
        return _eval(node.func, env)(*[_eval(a, env) for a in node.args])
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, env) for e in node.elts]
    raise ExpressionError(f"cannot evaluate {type(node).__name__}")

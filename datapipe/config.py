"""Stage configuration: frozen dataclasses built from workflow parameters, with type checks.

Each stage has a frozen ``Config`` dataclass. Its fields' comments (``# ...`` on the line above a
field, or trailing it) are the help text ``datapipe stages NAME`` shows.

:func:`build_config` turns the ``with:`` mapping of a workflow file into a config instance and
raises :class:`ConfigError` naming the parameter when one is unknown, missing or ill-typed.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from datapipe.errors import DatapipeError


class ConfigError(DatapipeError):
    """A stage parameter is unknown, missing, of the wrong type or out of range. ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple:
        return (ConfigError, (self.field, self.args[0]))


def check(condition: bool, field: str, message: str) -> None:
    """For a config's ``__post_init__``: raise :class:`ConfigError` on ``field`` unless ``condition``."""
    if not condition:
        raise ConfigError(field, f"{field}: {message}")


_MISSING = object()
MAX_INT = 2**53  # larger integers are typos (1e30 episodes), not sizes


def _short(value: Any) -> str:
    text = (
        str(value)
        if not isinstance(value, int) or value.bit_length() < 200
        else f"an integer of {value.bit_length()} bits"
    )
    return text if len(text) <= 60 else text[:57] + "..."


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {_type_name(get_args(tp)[1])}" if get_args(tp) else "mapping"
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against type annotation ``tp``; return it converted (lists to tuples,
    ints to floats where a float is expected). Raise ``TypeError`` with ``where`` in the message."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for arg in get_args(tp):
            try:
                return coerce(value, arg, where)
            except TypeError as exc:
                errors.append(str(exc))
        raise TypeError(f"{where}: expected {_type_name(tp)}, got {_short(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise TypeError(f"{where}: expected null, got {value!r}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise TypeError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise TypeError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        return tuple(coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where}: expected a mapping, got {value!r}")
        kt, vt = get_args(tp) or (Any, Any)
        return {coerce(k, kt, where): coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > MAX_INT:
                raise TypeError(f"{where}: {_short(value)} is out of range (at most {MAX_INT:.3g} in magnitude)")
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, int) and abs(value) > MAX_INT:
                raise TypeError(f"{where}: {_short(value)} is out of range (at most {MAX_INT:.3g} in magnitude)")
            if not math.isfinite(value):
                raise TypeError(f"{where}: expected a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise TypeError(f"{where}: expected {_type_name(tp)}, got {_short(repr(value))} ({type(value).__name__})")


def build_config(config_cls: type, params: dict[str, Any] | None) -> Any:
    """Instantiate the frozen dataclass ``config_cls`` from ``params``.

    Raises :class:`ConfigError` whose ``field`` is the offending parameter name.
    """
    params = dict(params or {})
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ConfigError(
            unknown[0],
            f"unknown parameter {unknown[0]!r}; known: {', '.join(fields) or '(none)'}",
        )
    values = {}
    for name, f in fields.items():
        if name in params:
            try:
                values[name] = coerce(params[name], hints[name], name)
            except TypeError as exc:
                raise ConfigError(name, str(exc)) from None
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(name, f"missing required parameter {name!r} ({_type_name(hints[name])})")
    try:
        return config_cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError, DatapipeError) as exc:  # a __post_init__ check that does not name its field
        raise ConfigError(_blamed_field(str(exc), fields, values), str(exc)) from None


def _blamed_field(message: str, fields: dict[str, Any], values: dict[str, Any]) -> str:
    """The field a ``__post_init__`` error is about: the one it starts with (``"fps: ..."``), else
    the one parameter whose text value (a file path, typically) the message quotes, else ``with``."""
    named = re.match(r"\s*([A-Za-z_]\w*)\s*:", message)
    if named and named.group(1) in fields:
        return named.group(1)
    quoted = [k for k, v in values.items() if isinstance(v, str) and len(v) >= 3 and v in message]
    return quoted[0] if len(quoted) == 1 else "with"


def narrow(config: Any, cls: type) -> Any:
    """The ``cls`` part of a config that extends ``cls`` (a stage config composing its algorithm's
    settings by inheritance): ``cls`` built from the fields of the same names."""
    return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)})


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-able dict of a config instance (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        return v

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


_FIELD_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*:\s*[^#]*?(?:#\s*(.*))?$")


def _own_field_help(cls: type, names: set[str]) -> dict[str, str]:
    """Help text of the fields declared in ``cls``'s own source (comments above or trailing)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    meta = {f.name: f.metadata.get("help") for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    helps: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        m = _FIELD_RE.match(line)
        if m and m.group(1) in names:
            text = " ".join([*pending, m.group(2) or ""]).strip()
            helps[m.group(1)] = meta.get(m.group(1)) or text
        pending = []
    return helps


def field_help(config_cls: type) -> dict[str, str]:
    """Help text per field, from the comments in the class source (above or trailing a field),
    following inheritance: a config that extends its algorithm's settings shows their help too."""
    names = {f.name for f in dataclasses.fields(config_cls)}
    helps: dict[str, str] = {}
    for cls in reversed(config_cls.__mro__):
        if cls is not object and dataclasses.is_dataclass(cls):
            helps.update({k: v for k, v in _own_field_help(cls, names).items() if v})
    return helps


def describe_fields(config_cls: type) -> list[dict[str, str]]:
    """One dict per field: name, type, default (as text) and help."""
    hints = typing.get_type_hints(config_cls)
    helps = field_help(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        out.append(
            {"name": f.name, "type": _type_name(hints[f.name]), "default": default, "help": helps.get(f.name, "")}
        )
    return out

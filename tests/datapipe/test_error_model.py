"""The error model has no seams: every error type the code defines is bad input (a
:class:`DatapipeError`, exit 2) or named here as something else on purpose; and
:class:`DatapipeError` is no ``ValueError``, so an ``except ValueError`` meant for NumPy or
``json`` never swallows bad input, and a bug's ``ValueError`` is never reported as bad input."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from datapipe.errors import DatapipeError, is_bad_input

PACKAGES = ("datapipe", "datapipe.stages", "datapipe.generators", "datapipe.teleop", "datapipe.schemas")

# error types that are not bad input, each on purpose
NOT_BAD_INPUT = {
    # Ctrl-C's twin for SIGTERM: an interruption, exit 143
    "datapipe.errors.Terminated",
    # wraps whatever a stage's setup raised; is_bad_input follows its __cause__
    "datapipe.engine.stage_task.StageSetupError",
    # a stage that failed the run; its bad_input flag (from its cause) picks exit 2 or 1
    "datapipe.engine.runners.common.StageFailed",
    # schemas imports nothing of datapipe; is_bad_input recognises it by type
    "datapipe.schemas.episode.SchemaVersionError",
}


def _defined_errors() -> dict[str, type]:
    found: dict[str, type] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                    found[f"{info.name}.{name}"] = obj
    return found


def test_every_defined_error_is_bad_input_or_named_as_something_else():
    errors = _defined_errors()
    assert len(errors) > 30  # the sweep found the code's errors
    stray = sorted(n for n, cls in errors.items() if not issubclass(cls, DatapipeError) and n not in NOT_BAD_INPUT)
    assert not stray, f"make these DatapipeError subclasses, or name them in NOT_BAD_INPUT with why: {stray}"
    assert set(NOT_BAD_INPUT) <= set(errors), "NOT_BAD_INPUT names a type that no longer exists"


def test_bad_input_is_no_value_error_and_a_value_error_is_a_bug():
    from datapipe.config import ConfigError

    assert not issubclass(DatapipeError, (ValueError, KeyError, TypeError))
    with pytest.raises(ConfigError):
        try:
            raise ConfigError("steps", "steps: must be >= 1")
        except ValueError:  # what NumPy's errors are caught with
            pytest.fail("an except ValueError caught bad input")
    assert is_bad_input(ConfigError("f", "m"))
    assert not is_bad_input(ValueError("a bug"))
    wrapped = RuntimeError("setup failed")
    wrapped.__cause__ = ConfigError("f", "m")
    assert is_bad_input(wrapped)

"""datapipe/ and schemas/ never import stages/, generators/ or teleop/ (they find stages through
the registry); a static check of every import statement."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("stages", "generators", "teleop")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def test_core_imports_no_plugin_package():
    offenders = []
    files = [*sorted((REPO / "datapipe").rglob("*.py")), *sorted((REPO / "schemas").rglob("*.py"))]
    assert len(files) > 10
    for path in files:
        for line, module in _imports(path):
            if module.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_the_check_catches_an_offender(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom stages.sinks import parquet\nimportlib.import_module('teleop.x')\n")
    assert [m for _, m in _imports(bad)] == ["os", "stages.sinks", "teleop.x"]


def test_registry_names_resolve_to_stage_classes():
    from datapipe.registry import default_registry

    registry = default_registry()
    for name in registry.names():
        cls = registry.get(name)
        assert cls.name == name and cls.kind in ("source", "transform", "sink")

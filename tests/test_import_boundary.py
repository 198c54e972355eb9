"""The layers, checked statically over every import statement of every package:

    schemas  <-  datapipe  <-  generators (libraries)  <-  stages, teleop

- a package imports only its own layer and the layers below it;
- libraries (schemas, datapipe, generators) import no Ray at module level or anywhere;
- no module imports a stage module, except a stage folder's own private modules
  (``stages/<group>/<name>/`` imports ``stages.<group>.<name>.*``);
- every registered stage ``group.name`` lives in ``stages/group/name.py`` or
  ``stages/group/name/__init__.py``;
- the folders beside ``datapipe/`` are imported by their installed names, ``datapipe.schemas``,
  ``datapipe.stages``, ``datapipe.generators`` and ``datapipe.teleop`` (never ``import stages``:
  site-packages gets no generic top-level name).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYER = {"schemas": 0, "datapipe": 1, "generators": 2, "stages": 3, "teleop": 3}
LIBRARIES = ("schemas", "datapipe", "generators")
RAY_FREE = {  # where Ray lives (imported lazily): the Ray runner and the Ray session
    "datapipe/engine/runners/ray_runner.py",
    "datapipe/engine/runners/ray_cluster.py",
}


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


def _package_files() -> list[Path]:
    return [p for pkg in LAYER for p in sorted((REPO / pkg).rglob("*.py"))]


OUTER = ("schemas", "stages", "generators", "teleop")  # folders installed as datapipe.<folder>


def _package(module: str) -> str:
    """The folder a module lives in: ``stages`` for ``datapipe.stages.sink.parquet``, ``datapipe``
    for ``datapipe.records``, the top-level name otherwise."""
    parts = module.split(".")
    if parts[0] == "datapipe" and len(parts) > 1 and parts[1] in OUTER:
        return parts[1]
    return parts[0]


def _own_stage_package(path: Path) -> str | None:
    """``datapipe.stages.<group>.<name>`` for a module inside a stage folder, else None."""
    rel = path.relative_to(REPO).with_suffix("").parts
    if rel[0] == "stages" and len(rel) >= 4:
        return "datapipe." + ".".join(rel[:3])
    return None


def layer_offences(rel: str, imports: list[tuple[int, str]]) -> list[str]:
    """The imports of the module at ``rel`` (a path in the repository) that break the layers."""
    found = []
    mine = LAYER[rel.split("/")[0]]
    own = _own_stage_package(REPO / rel)
    for line, module in imports:
        where = f"{rel}:{line} imports {module}"
        if module.split(".")[0] in OUTER:
            found.append(f"{where} (import it as datapipe.{module})")
        top = _package(module)
        if top in LAYER and LAYER[top] > mine:
            found.append(f"{where} (a higher layer)")
        if top == "teleop" and not rel.startswith("teleop"):
            found.append(f"{where} (teleop is an application)")
        if top == "stages" and module != "datapipe.stages" and not (own and module.startswith(own)):
            found.append(f"{where} (a stage module)")
        if top == "ray" and rel.split("/")[0] in LIBRARIES and rel not in RAY_FREE:
            found.append(f"{where} (libraries import no Ray)")
    return found


def test_layers_hold_over_every_package():
    offenders = []
    files = _package_files()
    assert len(files) > 60
    for path in files:
        offenders += layer_offences(str(path.relative_to(REPO)), _imports(path))
    assert not offenders, "\n".join(offenders)


def test_the_layer_check_catches_old_names_higher_layers_and_stage_modules(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from datapipe.schemas import workflow\n"  # a lower layer, by its installed name: fine
        "import stages.sink.parquet\n"  # the bare folder name
        "from datapipe.teleop.server import serve\n"  # an application
        "from datapipe.stages.sink.parquet import ParquetSink\n"  # a stage module
        "from datapipe.stages.augment.inpaint.masks import x\n"  # another stage's private module
    )
    found = layer_offences("generators/planted.py", _imports(planted))
    assert [(f.split(":")[1].split()[0], f.split(" (")[1]) for f in found] == [
        ("2", "import it as datapipe.stages.sink.parquet)"),
        ("2", "a higher layer)"),
        ("2", "a stage module)"),
        ("3", "a higher layer)"),
        ("3", "teleop is an application)"),
        ("4", "a higher layer)"),
        ("4", "a stage module)"),
        ("5", "a higher layer)"),
        ("5", "a stage module)"),
    ]
    own = layer_offences("stages/augment/inpaint/__init__.py", [(1, "datapipe.stages.augment.inpaint.masks")])
    assert own == []


DATAPIPE_TIER = {
    "errors": 0,
    "config": 0,
    "storage": 0,
    "http_io": 0,
    "wording": 0,
    "records": 1,
    "formats": 2,
    "standardize": 2,
    "augment": 2,
    "language": 2,
    "engine": 3,
    "audit": 3,
    "training": 3,
    "cli": 4,
    "__main__": 4,
    "__init__": 4,
}
"""datapipe's rooms on tiers (the map in datapipe/__init__.py): a module in ``datapipe/<a>``
imports ``datapipe.<b>`` only if a == b, b is on a lower tier, or b is ``errors``; nothing
imports ``cli``."""


def _room(module: str) -> str | None:
    """``engine`` for ``datapipe.engine.plan``; None for a module outside datapipe's own folder
    (``datapipe.stages`` and the other folders installed under its name included) or the package itself."""
    parts = module.split(".")
    return parts[1] if parts[0] == "datapipe" and len(parts) > 1 and parts[1] not in OUTER else None


def tier_offences(room: str, imports: list[tuple[int, str]], where: str) -> list[str]:
    """The imports of a module in ``datapipe/<room>`` that break the tiers."""
    found = []
    for line, module in imports:
        target = _room(module)
        if target is None or target == room or target == "errors" or module == "datapipe":
            continue
        if target not in DATAPIPE_TIER:
            found.append(f"{where}:{line} imports {module} (a room the map does not name)")
        elif target == "cli" and room != "__main__":
            found.append(f"{where}:{line} imports {module} (nothing imports cli)")
        elif DATAPIPE_TIER[target] == DATAPIPE_TIER[room] and room not in ("__main__", "__init__"):
            found.append(f"{where}:{line} imports {module} (a sibling on tier {DATAPIPE_TIER[room]})")
        elif DATAPIPE_TIER[target] > DATAPIPE_TIER[room]:
            found.append(f"{where}:{line} imports {module} (an upward import, tier {DATAPIPE_TIER[target]})")
    return found


def _room_of(path: Path) -> str:
    rel = path.relative_to(REPO / "datapipe").with_suffix("").parts
    return rel[0]


def test_datapipe_rooms_keep_their_tiers():
    offenders = []
    files = sorted((REPO / "datapipe").rglob("*.py"))
    for path in files:
        room = _room_of(path)
        assert room in DATAPIPE_TIER, f"{path.relative_to(REPO)}: not in a room of the map"
        offenders += tier_offences(room, _imports(path), str(path.relative_to(REPO)))
    assert not offenders, "\n".join(offenders)


def test_the_tier_check_catches_upward_sibling_and_cli_imports(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from datapipe.records import Episode\n"  # down: fine
        "from datapipe.engine.plan import build_plan\n"  # formats -> engine: upward
        "from datapipe.standardize import standardize\n"  # formats -> standardize: a sibling
        "import datapipe.cli\n"  # nobody imports cli
        "from datapipe.errors import DatapipeError\n"  # errors: everyone's
    )
    found = tier_offences("formats", _imports(planted), "formats/planted.py")
    assert [f.split(" (")[1] for f in found] == [
        "an upward import, tier 3)",
        "a sibling on tier 2)",
        "nothing imports cli)",
    ]
    assert tier_offences("engine", _imports(planted), "engine/planted.py")[0].endswith("(nothing imports cli)")


def test_the_package_map_names_every_room():
    import datapipe

    doc = datapipe.__doc__
    rooms = {p.name for p in (REPO / "datapipe").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in (REPO / "datapipe").glob("*.py") if not p.stem.startswith("__")}
    for name in rooms:
        assert f"{name}/" in doc and name in DATAPIPE_TIER, f"datapipe/{name}/ is not in the package map"
    for name in modules:
        assert f"{name}.py" in doc and DATAPIPE_TIER.get(name) == 0, f"datapipe/{name}.py is not in the package map"
    readme = (REPO / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for name in rooms:
        assert f"{name}/" in layout, f"README Layout does not show datapipe/{name}/"


def test_the_check_catches_an_offender(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom stages.sink import parquet\nimportlib.import_module('teleop.x')\n")
    assert [m for _, m in _imports(bad)] == ["os", "stages.sink", "teleop.x"]


def test_every_stage_name_leads_to_its_file():
    from datapipe.cli.run import stage_file
    from datapipe.engine.registry import default_registry

    registry = default_registry()
    names = registry.names()
    assert len(names) >= 18
    for name in names:
        cls = registry.get(name)
        assert cls.name == name and cls.kind in ("source", "transform", "sink")
        group, _, stem = name.partition(".")
        path = Path(inspect.getsourcefile(cls)).resolve().relative_to(REPO)
        assert str(path) in (f"stages/{group}/{stem}.py", f"stages/{group}/{stem}/__init__.py"), (name, path)
        assert stage_file(cls) == str(path)


def test_readme_stage_table_is_the_generated_one():
    from datapipe.cli.run import stages_markdown

    text = (REPO / "README.md").read_text()
    table = text.split("<!-- stages:start -->\n", 1)[1].split("<!-- stages:end -->", 1)[0]
    assert table == stages_markdown(), "regenerate with: datapipe stages --markdown"


HEAVY = ("mujoco", "mink", "torch", "ray", "cv2", "mediapipe", "av", "transformers", "diffusers")

_HELP = """
import contextlib, io, runpy, sys
sys.argv = ["datapipe", "--help"]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        runpy.run_module("datapipe", run_name="__main__")
    except SystemExit:
        pass
print(" ".join(m for m in HEAVY if m in sys.modules))
"""


def test_datapipe_help_imports_no_simulator_model_or_cluster_library():
    import subprocess
    import sys

    code = f"HEAVY = {HEAVY!r}\n{_HELP}"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True)
    assert out.stdout.split() == [], f"`datapipe --help` imported {out.stdout.split()}"

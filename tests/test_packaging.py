"""The wheel datapipe builds (by setuptools, from a copy of the source folders): one top-level
package, ``datapipe``, holding the folders beside it under its name, the data files the code
reads at run time, and the entry points that name the stages and commands by those names."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("datapipe", "schemas", "stages", "generators", "teleop", "setup.py", "pyproject.toml", "README.md")


def test_the_wheel_has_one_top_level_package_with_its_data(tmp_path):
    src = tmp_path / "src"
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy(path, src / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("datapipe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"datapipe"}
    for needed in (
        "datapipe/stages/source/synthetic.py",
        "datapipe/generators/robots/registry.py",
        "datapipe/teleop/static/index.html",
        "datapipe/schemas/workflow.schema.json",
        "datapipe/audit/templates/report.html.j2",
    ):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n]
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    targets = [line.split("=", 1)[1].strip() for line in text.splitlines() if "=" in line]
    assert len(targets) > 30 and all(t.startswith("datapipe.") for t in targets), targets

"""Robots of MuJoCo Menagerie (Apache-2.0 models), found offline where they are installed.

A robot config's ``menagerie: <name>`` is resolved, in order, to:

1. a local folder: ``<name>`` itself when it is a folder or an MJCF file, or
   ``$DATAPIPE_MENAGERIE/<name>/`` (a checkout of mujoco_menagerie);
2. the ``gym-hil`` wheel's assets, which carry Menagerie's ``franka_emika_panda`` meshes with a
   Robotiq 2F-85 gripper (``pip install --no-deps gym-hil``: only its assets are read, nothing of it
   is imported);
3. the ``mujoco-menagerie`` package (``pip install mujoco-menagerie``), which fetches any Menagerie
   robot by name where the internet is reachable.

:func:`menagerie_spec` returns the robot's ``mujoco.MjSpec``; a known robot is then adapted for
scripted experts by :mod:`datapipe.generators.robots.adapters` (position servos, an end-effector site, a
wrist camera).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import mujoco

from datapipe.errors import DatapipeError

MENAGERIE_ENV = "DATAPIPE_MENAGERIE"
# the MJCF file of a robot inside its Menagerie folder, where it is not <name>.xml
ENTRY_FILES = {"franka_emika_panda": ("panda.xml",), "universal_robots_ur5e": ("ur5e.xml",)}


class MenagerieNotFound(DatapipeError):
    """A Menagerie robot that nothing installed provides: says what to install."""


def gym_hil_assets() -> Path | None:
    """The ``gym_hil/assets`` folder of an installed gym-hil wheel (None when not installed).
    Found without importing gym_hil (its import needs gymnasium, which is not installed)."""
    spec = importlib.util.find_spec("gym_hil")
    if spec is None or not spec.submodule_search_locations:
        return None
    assets = Path(next(iter(spec.submodule_search_locations))) / "assets"
    return assets if (assets / "panda.xml").exists() else None


def _entry_in(folder: Path, name: str) -> Path | None:
    for candidate in (*ENTRY_FILES.get(name, ()), f"{name}.xml", "scene.xml"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def find_menagerie_mjcf(name: str) -> Path | None:
    """The MJCF file of Menagerie robot ``name`` in a local folder or the gym-hil wheel, or None."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        return _entry_in(path, path.name)
    root = os.environ.get(MENAGERIE_ENV)
    if root and (Path(root) / name).is_dir():
        found = _entry_in(Path(root) / name, name)
        if found:
            return found
    assets = gym_hil_assets()
    if name == "franka_emika_panda" and assets is not None:
        return assets / "panda.xml"
    return None


def menagerie_spec(name: str) -> mujoco.MjSpec:
    """The spec of Menagerie robot ``name`` (see the module docstring for where it is looked for)."""
    mjcf = find_menagerie_mjcf(name)
    if mjcf is not None:
        try:
            return mujoco.MjSpec.from_file(str(mjcf))
        except Exception as exc:
            raise MenagerieNotFound(f"menagerie robot {name!r}: {mjcf} does not load: {exc}") from exc
    if importlib.util.find_spec("mujoco_menagerie") is not None:
        import mujoco_menagerie

        try:
            robot = mujoco_menagerie.get(name)
            return robot.spec(robot.default_model)
        except Exception as exc:
            raise MenagerieNotFound(
                f"menagerie robot {name!r}: mujoco-menagerie could not provide it ({exc}); it fetches "
                f"robots from the internet, or set ${MENAGERIE_ENV} to a local mujoco_menagerie checkout"
            ) from exc
    hint = (
        "pip install --no-deps gym-hil (it carries franka_emika_panda)"
        if name == "franka_emika_panda"
        else "pip install mujoco-menagerie (fetches robots where the internet is reachable)"
    )
    raise MenagerieNotFound(
        f"menagerie robot {name!r} not found: {hint}, or set ${MENAGERIE_ENV} to a folder holding {name}/, "
        f"or give menagerie: a local folder"
    )

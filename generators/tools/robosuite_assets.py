"""Fetch robosuite 1.4.1's human demonstrations and the assets their models use, offline after once.

robosuite's wheel carries raw teleoperation demonstrations (``models/assets/demonstrations``:
``lift/demo.hdf5`` has 3 Panda demos, states and OSC_POSE actions at 20 Hz) and the meshes and
textures their recorded models (``model_file``) name. ``python -m datapipe.generators.tools.robosuite_assets
DEST`` downloads the wheel from the package index with pip (no dependencies, nothing installed)
and extracts into ``DEST/assets`` what a Panda demo needs: demonstrations, the Panda and its
gripper, mounts, arenas and textures (about 150 MB of 586).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "1.4.1"
PREFIX = "robosuite/models/assets/"
KEEP = ("demonstrations/", "robots/panda/", "grippers/", "mounts/", "arenas/", "textures/")
DONE = ".fetched"


def fetch(dest: str | Path) -> Path:
    """``DEST/assets`` with the demonstrations and the assets they name (fetched once)."""
    dest = Path(dest)
    assets = dest / "assets"
    if (dest / DONE).is_file():
        return assets
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, f"robosuite=={VERSION}"],
            check=True,
        )
        wheel = next(Path(tmp).glob("robosuite-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                rel = name.removeprefix(PREFIX)
                if name.startswith(PREFIX) and rel.startswith(KEEP) and not name.endswith("/"):
                    target = assets / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(z.read(name))
    (dest / DONE).write_text(f"robosuite {VERSION}\n")
    return assets


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m datapipe.generators.tools.robosuite_assets DEST")
    print(f"robosuite {VERSION} demonstrations and assets in {fetch(sys.argv[1])}")

"""The packages datapipe installs: ``datapipe/`` and, under datapipe's name, the folders beside it
(``schemas/`` is installed as ``datapipe.schemas``, ``stages/`` as ``datapipe.stages``, and so on for
``generators/`` and ``teleop/``), so site-packages holds one top-level package and no generic name
another distribution may own. Everything else is in ``pyproject.toml``."""

from setuptools import find_packages, setup

OUTER = ("schemas", "stages", "generators", "teleop")

packages = find_packages(include=["datapipe", "datapipe.*"])
for outer in OUTER:
    packages += [f"datapipe.{p}" for p in find_packages(include=[outer, f"{outer}.*"])]

setup(packages=packages, package_dir={f"datapipe.{outer}": outer for outer in OUTER})

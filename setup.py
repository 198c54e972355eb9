"""The packages datapipe installs: ``datapipe/`` and, under datapipe's name, the folders beside it
(``schemas/`` is installed as ``datapipe.schemas``, ``stages/`` as ``datapipe.stages``, and so on for
``generators/`` and ``teleop/``), so site-packages holds one top-level package and no generic name
another distribution may own. Everything else is in ``pyproject.toml``."""

from setuptools import find_namespace_packages, setup

OUTER = ("schemas", "stages", "generators", "teleop")

# namespace packages too: the folders of data files (audit/templates, teleop/static) are packages
NOT_PACKAGES = ["*__pycache__*", "*.egg-info"]

packages = find_namespace_packages(include=["datapipe", "datapipe.*"], exclude=NOT_PACKAGES)
for outer in OUTER:
    found = find_namespace_packages(include=[outer, f"{outer}.*"], exclude=NOT_PACKAGES)
    packages += [f"datapipe.{p}" for p in found]

setup(packages=packages, package_dir={f"datapipe.{outer}": outer for outer in OUTER})

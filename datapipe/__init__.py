"""datapipe: a data collection and curation pipeline for Vision-Language-Action robot policies.

Core package: records, the stage API and registry, workflow DAGs, runners, run directories and
the command line. It never imports ``stages/``, ``generators/`` or ``teleop/``; it finds stages
through the registry (:mod:`datapipe.registry`).
"""

__version__ = "0.1.0"

"""Versioned data schemas of datapipe.

- :mod:`datapipe.schemas.episode`: the episode record as a pyarrow schema (``EPISODE_SCHEMA_VERSION``).
- ``workflow.schema.json``: the workflow file as a JSON Schema (:func:`datapipe.schemas.workflow.load`).
"""

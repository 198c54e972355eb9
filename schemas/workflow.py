"""The workflow file's JSON Schema (``workflow.schema.json`` beside this module)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

WORKFLOW_SCHEMA_PATH = Path(__file__).with_name("workflow.schema.json")
WORKFLOW_SCHEMA_VERSION = "1.0"


@lru_cache(maxsize=1)
def load() -> dict:
    """The workflow JSON Schema as a dict."""
    return json.loads(WORKFLOW_SCHEMA_PATH.read_text())

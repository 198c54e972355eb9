"""The WebDataset shard manifest (``index.json``): its JSON Schema and version.

Bump ``MANIFEST_VERSION`` on an incompatible change; readers refuse major versions they do not know.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

MANIFEST_SCHEMA_PATH = Path(__file__).with_name("shard_manifest.schema.json")
MANIFEST_VERSION = "1.1"  # 1.1: a camera's shape may be null (sizes differ: "shapes")
MANIFEST_NAME = "index.json"
EPISODES_NAME = "episodes.parquet"


@lru_cache(maxsize=1)
def load() -> dict:
    """The manifest JSON Schema as a dict."""
    return json.loads(MANIFEST_SCHEMA_PATH.read_text())


def check_manifest(doc: Any) -> None:
    """Raise ``ValueError`` naming the field if ``doc`` is not a manifest this version reads."""
    import jsonschema

    try:
        jsonschema.validate(doc, load())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ValueError(f"field {where}: {exc.message}") from None
    major = str(doc["manifest_version"]).split(".")[0]
    if major != MANIFEST_VERSION.split(".")[0]:
        raise ValueError(
            f"field manifest_version: {doc['manifest_version']} is not readable by this "
            f"datapipe (reads {MANIFEST_VERSION.split('.')[0]}.x)"
        )

"""Which version of a dataset an audit describes.

A dataset written again at the same path (a sink run with other inputs, a LeRobot dataset
edited) makes an audit written before it stale, and an ``audit/`` folder beside the dataset looks
current. The summary and the report carry the fingerprint of the file that defines the dataset
(``index.json`` of a shard dataset, ``meta/info.json`` of a LeRobot dataset): its sha256 and, for
a shard dataset, when the manifest was written.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Any

DEFINING_FILE = {"webdataset": ("index.json",), "lerobot": ("meta", "info.json")}


def dataset_version(path: str, fmt: str) -> dict[str, Any]:
    """``{"file": ..., "sha256": 64 hex, "written_at": ISO 8601 UTC or None}`` of the dataset at ``path``."""
    from datapipe.storage import resolve

    parts = DEFINING_FILE[fmt]
    data = resolve(path).join(*parts).read_bytes()
    written = None
    if fmt == "webdataset":
        try:  # a damaged manifest is the reader's to name; the version is its bytes either way
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc = None
        created = doc.get("created_at") if isinstance(doc, dict) else None
        if isinstance(created, (int, float)) and 0 <= created < 1e11:
            written = datetime.datetime.fromtimestamp(created, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {"file": "/".join(parts), "sha256": hashlib.sha256(data).hexdigest(), "written_at": written}


def describe_version(version: dict[str, Any] | None) -> str:
    """``index.json sha256 1a2b3c4d5e6f, written 2026-12-07 15:30:00 UTC`` (empty without a version)."""
    if not version:
        return ""
    when = f", written {version['written_at']}" if version.get("written_at") else ""
    return f"{version['file']} sha256 {version['sha256'][:12]}{when}"

"""Content hashes: of a stage's config, and of a stage's output (config + upstream outputs)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

HASH_CHARS = 16


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(text: str, chars: int = HASH_CHARS) -> str:
    """First ``chars`` hex digits of the sha256 of ``text``."""
    return hashlib.sha256(text.encode()).hexdigest()[:chars]


def config_hash(stage_name: str, stage_version: str, config: dict[str, Any]) -> str:
    """Hash of what makes a stage compute what it computes: name, version and parameters."""
    return digest(canonical_json({"stage": stage_name, "version": stage_version, "config": config}))


def output_hash(stage_config_hash: str, upstream_hashes: Iterable[str]) -> str:
    """Content address of a stage's output: its config hash and its inputs' output hashes.

    Upstream hashes are sorted: a union of inputs does not depend on the order of ``needs``.
    """
    return digest(canonical_json({"config": stage_config_hash, "upstream": sorted(upstream_hashes)}))


def keys_hash(keys: Iterable[str]) -> str:
    """Hash of a set of input keys: names a committed part after what it consumed."""
    return digest("\n".join(sorted(keys)))

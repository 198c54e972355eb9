"""Staging for sinks that can only write once every episode has arrived (a LeRobot export with
global indices, an audit): each batch is staged as a parquet part beside the output, and
``finalize`` reads the committed parts back one at a time.

Staged parts live in ``<output>/.datapipe-staging/<part>.parquet``; parts without a receipt (a
crash before the commit) are ignored and removed; :func:`clear_staging` removes the folder once
the output is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from datapipe.records import Episode
from datapipe.records.arrow import episodes_to_table, table_to_episodes
from datapipe.schemas.episode import check_schema_version
from datapipe.storage import resolve

STAGING = ".datapipe-staging"


def stage_episodes(output: str, episodes: list[Episode], part: str) -> dict[str, Any]:
    """Stage one batch (atomic write); return the receipt fragment ``{"staged": name}``."""
    name = f"{part}.parquet"
    resolve(output).join(STAGING, name).write_parquet_atomic(episodes_to_table(episodes))
    return {"staged": name}


def staged_episodes(output: str, receipts: list[dict[str, Any]]) -> Iterator[Episode]:
    """The staged episodes of committed ``receipts``, part by part in the receipts' order (the
    runner's: by batch, then slice)."""
    staging = resolve(output).join(STAGING)
    keep = list(dict.fromkeys(r["staged"] for r in receipts))
    for loc in staging.list(".parquet"):
        if loc.path.rsplit("/", 1)[-1] not in keep:
            loc.delete()  # staged by a batch that never committed
    for name in keep:
        table = staging.join(name).read_parquet()
        check_schema_version(table.schema, staging.join(name).uri)
        yield from table_to_episodes(table)


def clear_staging(output: str) -> None:
    resolve(output).join(STAGING).delete()

"""``episodes.parquet`` against ``index.json``: the checks that every reader of a shard dataset
shares (the stream, ``validate-dataset`` and the audit), so an edited or inconsistent table is a
named problem everywhere, never a wrong, missing or endless sample.

A row is *bad* on its own when its shard is not in the manifest, its length is not within
1..(its shard's frames), its index is outside its shard's samples, or its id or (shard, index)
repeats; the table is *inconsistent* when its counts differ from the manifest's (rows per shard,
episodes, frames).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple


class TableProblem(NamedTuple):
    """One problem of the table: the row it concerns (``None``: the whole table) and a message."""

    row: int | None
    message: str


def episode_table_problems(manifest: dict[str, Any], rows: list[dict[str, Any]], file: str) -> list[TableProblem]:
    """Every problem of ``rows`` (``episodes.parquet`` at ``file``) against ``manifest``."""
    shards = {s["name"]: s for s in manifest.get("shards", [])}
    out: list[TableProblem] = []
    ids = Counter(r.get("episode_id") for r in rows)
    places = Counter((r.get("shard"), r.get("index_in_shard")) for r in rows)
    for i, r in enumerate(rows):
        where = f"{file}: row {i} (episode {str(r.get('episode_id'))[:40]!r})"
        shard = shards.get(r.get("shard"))
        length, index = r.get("length"), r.get("index_in_shard")
        if shard is None:
            out.append(TableProblem(i, f"{where}: shard {str(r.get('shard'))[:80]!r} is not in index.json"))
            continue
        most = shard.get("frames") or manifest.get("frames")
        if not isinstance(length, int) or length < 1 or (isinstance(most, int) and length > most):
            out.append(TableProblem(i, f"{where}: length {length} is not within 1..{most} (its shard's frames)"))
        elif not isinstance(index, int) or not 0 <= index < shard["samples"]:
            out.append(TableProblem(i, f"{where}: index_in_shard {index} outside its shard's {shard['samples']}"))
        elif ids[r.get("episode_id")] > 1:
            out.append(TableProblem(i, f"{where}: the episode id appears {ids[r.get('episode_id')]} times"))
        elif places[(r.get("shard"), index)] > 1:
            out.append(TableProblem(i, f"{where}: another row has the same shard and index_in_shard"))
    per_shard = Counter(r.get("shard") for r in rows)
    for name, shard in shards.items():
        if per_shard.get(name, 0) != shard["samples"]:
            out.append(
                TableProblem(
                    None,
                    f"{file}: {per_shard.get(name, 0)} rows for shard {name}, "
                    f"index.json says {shard['samples']} samples",
                )
            )
    if len(rows) != manifest.get("episodes", len(rows)):
        out.append(TableProblem(None, f"{file}: {len(rows)} rows, index.json says {manifest['episodes']} episodes"))
    lengths = [r.get("length") for r in rows]
    if all(isinstance(n, int) for n in lengths) and "frames" in manifest and sum(lengths) != manifest["frames"]:
        out.append(
            TableProblem(None, f"{file}: lengths sum to {sum(lengths)} frames, index.json says {manifest['frames']}")
        )
    return out

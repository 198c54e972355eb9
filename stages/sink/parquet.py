"""``sink.parquet``: episodes to parquet files of the episode schema (one file per committed part)."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from datapipe.engine.stage import SinkStage
from datapipe.formats.ownership import OwnedOutput
from datapipe.records import Episode
from datapipe.records.arrow import episode_to_row
from datapipe.schemas.episode import EPISODE_SCHEMA, EPISODE_SCHEMA_VERSION
from datapipe.storage import resolve
from datapipe.wording import counted

INDEX_NAME = "_datapipe_index.json"
PART_NAME = re.compile(r"part-[0-9a-f]+(?:-s[0-9]{3,})?\.parquet")  # the files this sink names (part names)


@dataclass(frozen=True)
class ParquetSinkConfig:
    # output folder, a local path or a URI (s3://bucket/prefix, file:///...)
    path: str
    # write into a non-empty folder that this stage did not write: files already there are kept
    # (same-named ones are replaced); without it such a folder is refused
    overwrite: bool = False


class ParquetSink(SinkStage):
    """Write episodes as parquet files (episode schema) plus an index of files and counts."""

    name = "sink.parquet"
    version = "1"
    Config = ParquetSinkConfig

    def write(self, episodes: list[Episode], part: str) -> dict[str, Any]:
        name = f"{part}.parquet"
        rows = self.each(episodes, episode_to_row)
        resolve(self.config.path).join(name).write_parquet_atomic(
            pa.Table.from_pylist([r for _, r in rows], schema=EPISODE_SCHEMA)
        )
        return {"file": name, "episodes": len(rows), "episode_ids": [e.episode_id for e, _ in rows]}

    def finalize(self, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        root = resolve(self.config.path)
        root.makedirs()
        keep = {r["file"] for r in receipts}
        index = {
            "format": "datapipe.parquet",
            "episode_schema_version": EPISODE_SCHEMA_VERSION,
            "files": sorted(keep),
            "episodes": sum(r["episodes"] for r in receipts),
            "written_at": time.time(),
        }
        root.join(INDEX_NAME).write_bytes_atomic(json.dumps(index, indent=2).encode())
        # parts of batches that never committed, or of this stage's earlier output: its own files only
        removed = OwnedOutput(root).complete(keep | {INDEX_NAME}, own_name=PART_NAME.fullmatch)
        return {"path": root.uri, "files": len(keep), "episodes": index["episodes"], "orphans_removed": removed}

    @classmethod
    def describe(cls, result: dict[str, Any]) -> list[str]:
        return [
            f"parquet: {counted(result['episodes'], 'episode')} in {counted(result['files'], 'file')} at "
            f"{result['path']} (one row per episode; index.json lists the files)"
        ]

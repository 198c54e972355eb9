"""``sink.parquet``: episodes to parquet files of the episode schema (one file per committed part)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from datapipe.record_arrow import episodes_to_table
from datapipe.records import Episode
from datapipe.stage import SinkStage
from datapipe.storage import resolve
from schemas.episode import EPISODE_SCHEMA_VERSION

INDEX_NAME = "_datapipe_index.json"
PART_PREFIX = "part-"


@dataclass(frozen=True)
class ParquetSinkConfig:
    # output folder, a local path or a URI (s3://bucket/prefix, file:///...)
    path: str


class ParquetSink(SinkStage):
    """Write episodes as parquet files (episode schema) plus an index of files and counts."""

    name = "sink.parquet"
    version = "1"
    Config = ParquetSinkConfig

    def write(self, episodes: list[Episode], part: str) -> dict[str, Any]:
        name = f"{part}.parquet"
        resolve(self.config.path).join(name).write_parquet_atomic(episodes_to_table(episodes))
        return {"file": name, "episodes": len(episodes), "episode_ids": [e.episode_id for e in episodes]}

    def finalize(self, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        root = resolve(self.config.path)
        root.makedirs()
        keep = {r["file"] for r in receipts}
        removed = 0
        for loc in root.list(".parquet"):
            name = loc.path.rsplit("/", 1)[-1]
            if name.startswith(PART_PREFIX) and name not in keep:
                loc.delete()  # from a crash before commit, or from an earlier --force'd run
                removed += 1
        root.remove_temporaries()
        index = {
            "format": "datapipe.parquet",
            "episode_schema_version": EPISODE_SCHEMA_VERSION,
            "files": sorted(keep),
            "episodes": sum(r["episodes"] for r in receipts),
            "written_at": time.time(),
        }
        root.join(INDEX_NAME).write_bytes_atomic(json.dumps(index, indent=2).encode())
        return {"path": root.uri, "files": len(keep), "episodes": index["episodes"], "orphans_removed": removed}

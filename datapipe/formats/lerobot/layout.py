"""The LeRobot dataset layouts datapipe writes (v3.0) and reads (v2.1 and v3.0): paths and names.

v3.0 (``meta/info.json`` ``codebase_version: "v3.0"``)::

    meta/info.json                                   features, fps, totals, path templates
    meta/stats.json                                  per-feature min/max/mean/std/count/q01/q99
    meta/tasks.parquet                               task string (index) -> task_index
    meta/episodes/chunk-XXX/file-XXX.parquet         one row per episode: length, tasks, where its
                                                     rows and video segments are
    data/chunk-XXX/file-XXX.parquet                  one row per frame, many episodes per file
    videos/<video_key>/chunk-XXX/file-XXX.mp4        H.264; an episode is [from_timestamp, to_timestamp)

v2.1: ``meta/episodes.jsonl``, ``meta/tasks.jsonl``, one ``data/chunk-XXX/episode_XXXXXX.parquet``
and one ``videos/chunk-XXX/<video_key>/episode_XXXXXX.mp4`` per episode (templates in info.json).

Camera ``<name>`` of an episode is the video feature ``observation.images.<name>``.
"""

from __future__ import annotations

import re

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000
INFO = "meta/info.json"
STATS = "meta/stats.json"
TASKS = "meta/tasks.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
IMAGE_PREFIX = "observation.images."
# frame-level columns LeRobot adds to every dataset
INDEX_FEATURES = ("timestamp", "frame_index", "episode_index", "index", "task_index")
# datapipe's own episode record, kept in the episodes table so exports round-trip exactly
DATAPIPE_COLUMN = "datapipe/episode"
DATAPIPE_TIMESTAMP = "datapipe/timestamp"  # the episode's own timestamps when not frame_index / fps


_LAYOUT_PATH = re.compile(
    r"meta/(info\.json|stats\.json|tasks\.parquet|episodes/chunk-\d{3}/file-\d{3}\.parquet)"
    r"|data/chunk-\d{3}/file-\d{3}\.parquet|videos/[^/]+/chunk-\d{3}/file-\d{3}\.mp4"
)


def is_layout_path(rel: str) -> bool:
    """Whether ``rel`` (relative to a dataset root) is a file of the v3.0 layout datapipe writes."""
    return _LAYOUT_PATH.fullmatch(rel) is not None


def chunk_file(counter: int) -> dict[str, int]:
    """``chunk_index`` and ``file_index`` of the ``counter``-th file of a kind."""
    chunk, file = divmod(counter, CHUNKS_SIZE)
    return {"chunk_index": chunk, "file_index": file}


def video_key(camera: str) -> str:
    return f"{IMAGE_PREFIX}{camera}"


def camera_name(key: str) -> str:
    return key[len(IMAGE_PREFIX) :] if key.startswith(IMAGE_PREFIX) else key

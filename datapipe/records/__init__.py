"""The episode record and its encodings (tier 1): the Episode, its Arrow row, sample names,
video codecs, resampling and resizing, the filter expression language and synthetic episodes.

``from datapipe.records import Episode`` (and the other names below) is the record's public face;
the definitions live in :mod:`datapipe.records.episode`.
"""

from datapipe.records.episode import (
    ACTION_KINDS,
    CAMERA_ENCODINGS,
    EPISODE_ID_NAMESPACE,
    MAX_ID,
    REQUIRED_STEPS,
    SOURCE_KINDS,
    CameraStream,
    Embodiment,
    Episode,
    LineageEntry,
    RecordError,
    Source,
    episode_ids,
    json_meta,
    make_episode_id,
)

__all__ = [
    "ACTION_KINDS",
    "CAMERA_ENCODINGS",
    "EPISODE_ID_NAMESPACE",
    "MAX_ID",
    "REQUIRED_STEPS",
    "SOURCE_KINDS",
    "CameraStream",
    "Embodiment",
    "Episode",
    "LineageEntry",
    "RecordError",
    "Source",
    "episode_ids",
    "json_meta",
    "make_episode_id",
]

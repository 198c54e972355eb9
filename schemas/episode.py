"""The episode record as a versioned pyarrow schema.

One Arrow row holds one episode. Per-step arrays are stored as raw little-endian tensors
(``dtype`` string, ``shape`` and bytes) so any numeric array round-trips bit-exactly whatever its
rank or dtype; cameras stay encoded (one mp4 file, or one JPEG per frame).

Bump ``EPISODE_SCHEMA_VERSION`` on any change of this layout; readers refuse versions they
do not know (see :func:`check_schema_version`).
"""

from __future__ import annotations

import pyarrow as pa

EPISODE_SCHEMA_VERSION = "1.1"  # 1.1: embodiment.action_kinds
SCHEMA_VERSION_KEY = b"datapipe.episode_schema_version"

SOURCE_TYPE = pa.struct(
    [
        pa.field("kind", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("span", pa.string(), nullable=False),
        pa.field("licence", pa.string()),
    ]
)

EMBODIMENT_TYPE = pa.struct(
    [
        pa.field("robot", pa.string(), nullable=False),
        pa.field("action_names", pa.list_(pa.string())),
        pa.field("action_units", pa.list_(pa.string())),
        pa.field("action_frame", pa.string()),
        pa.field("state_names", pa.list_(pa.string())),
        pa.field("control_fps", pa.float64()),
        pa.field("action_kinds", pa.list_(pa.string())),  # 1.1; absent in 1.0 files
    ]
)

TENSOR_TYPE = pa.struct(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("dtype", pa.string(), nullable=False),  # numpy dtype string, e.g. "<f4"
        pa.field("shape", pa.list_(pa.int64()), nullable=False),
        pa.field("data", pa.large_binary(), nullable=False),  # C-order bytes
    ]
)

CAMERA_TYPE = pa.struct(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("encoding", pa.string(), nullable=False),  # "mp4" | "jpeg"
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("n_frames", pa.int64(), nullable=False),
        pa.field("data", pa.list_(pa.large_binary()), nullable=False),  # mp4: [file]; jpeg: per frame
    ]
)

LINEAGE_TYPE = pa.struct(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("config_hash", pa.string(), nullable=False),
    ]
)

EPISODE_SCHEMA = pa.schema(
    [
        pa.field("episode_id", pa.string(), nullable=False),
        pa.field("source", SOURCE_TYPE, nullable=False),
        pa.field("embodiment", EMBODIMENT_TYPE, nullable=False),
        pa.field("task", pa.list_(pa.string()), nullable=False),
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("length", pa.int64(), nullable=False),
        pa.field("steps", pa.list_(TENSOR_TYPE), nullable=False),
        pa.field("cameras", pa.list_(CAMERA_TYPE), nullable=False),
        pa.field("success", pa.bool_()),
        pa.field("meta", pa.string(), nullable=False),  # JSON object
        pa.field("lineage", pa.list_(LINEAGE_TYPE), nullable=False),
    ],
    metadata={SCHEMA_VERSION_KEY: EPISODE_SCHEMA_VERSION.encode()},
)


class SchemaVersionError(ValueError):
    """A table was written with an episode schema version this code cannot read."""


def check_schema_version(schema: pa.Schema, where: str) -> None:
    """Raise :class:`SchemaVersionError` naming ``where`` if ``schema`` is of another major version."""
    found = (schema.metadata or {}).get(SCHEMA_VERSION_KEY)
    if found is None:
        return  # written by a tool that keeps no metadata (e.g. after a Ray Data shuffle)
    major = found.decode().split(".")[0]
    if major != EPISODE_SCHEMA_VERSION.split(".")[0]:
        raise SchemaVersionError(
            f"{where}: episode schema version {found.decode()} is not readable by this datapipe "
            f"(reads {EPISODE_SCHEMA_VERSION})"
        )

"""A WebDataset shard dataset on local disk, any pyarrow filesystem, or HTTP(S).

``ShardDataset(root)`` reads ``root/index.json`` (the manifest, checked against
``schemas/shard_manifest.schema.json``) and ``root/episodes.parquet`` (one row per episode: id,
split, shard, position in the shard, length, task...), and opens shards as byte streams.
``root`` is a local path, ``file://...``, ``s3://bucket/prefix`` (or another pyarrow filesystem
URI), or ``http(s)://host/prefix``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe.errors import DatapipeError
from datapipe.formats.shards.sample import members_episode
from datapipe.formats.shards.tar_io import ShardError, iter_samples
from datapipe.http_io import open_url
from datapipe.records import Episode
from datapipe.records.names import UnsafePathError, confined
from datapipe.schemas.shard_manifest import EPISODES_NAME, MANIFEST_NAME, check_manifest
from datapipe.storage import parse_json, resolve


class DatasetError(DatapipeError):
    """A dataset cannot be opened: missing or invalid manifest. Names the file."""


def _is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


class ShardDataset:
    """The manifest, episode table and shards of a dataset written by ``sink.webdataset``."""

    def __init__(self, root: str):
        self.root = str(root).rstrip("/")
        doc = self._read_json(MANIFEST_NAME)
        try:
            check_manifest(doc)
        except ValueError as exc:
            raise DatasetError(f"{self.uri(MANIFEST_NAME)}: {exc}") from None
        for i, shard in enumerate(doc["shards"]):  # shards sit in the dataset folder, nowhere else
            name = shard["name"]
            try:
                inside = confined(name, f"{self.uri(MANIFEST_NAME)}: shards[{i}].name") == name
            except UnsafePathError as exc:
                raise DatasetError(str(exc)) from None
            if not inside or "/" in name:
                raise DatasetError(
                    f"{self.uri(MANIFEST_NAME)}: shards[{i}].name {name!r} is not a file name in the dataset folder"
                )
        self.manifest: dict[str, Any] = doc

    # -- files -------------------------------------------------------------------------------
    def uri(self, name: str) -> str:
        """The address of a file of the dataset."""
        return f"{self.root}/{name}"

    def open(self, name: str) -> IO[bytes]:
        """A binary stream of a dataset file (raises :class:`ShardError` if it cannot be opened). Over
        HTTP(S), transient failures are retried and a dropped body resumes (:mod:`datapipe.http_io`)."""
        try:
            if _is_http(self.root):
                return open_url(self.uri(name))
            loc = resolve(self.root).join(name)
            return loc.fs.open_input_stream(loc.path)
        except (OSError, ValueError) as exc:
            raise ShardError(name, None, f"cannot open {self.uri(name)}: {exc}") from exc

    def _read_json(self, name: str) -> dict[str, Any]:
        try:
            with self.open(name) as f:
                data = f.read()
        except ShardError as exc:
            raise DatasetError(f"{self.uri(name)}: not found or unreadable ({exc.reason})") from None
        return parse_json(data, self.uri(name), DatasetError)

    @cached_property
    def episodes(self) -> pa.Table:
        """One row per episode (see :mod:`datapipe.formats.shards.writer`), in shard then sample order."""
        try:
            with self.open(EPISODES_NAME) as f:
                # a BufferReader, not io.BytesIO: reading parquet from a Python file object leaves a
                # pyarrow thread that aborts the interpreter at exit (pyarrow 26)
                table = pq.read_table(pa.BufferReader(f.read()))
        except (ShardError, pa.ArrowException, OSError) as exc:
            raise DatasetError(f"{self.uri(EPISODES_NAME)}: missing or unreadable: {exc}") from None
        missing = [c for c in ("episode_id", "shard", "index_in_shard", "length") if c not in table.column_names]
        if missing:
            raise DatasetError(f"{self.uri(EPISODES_NAME)}: columns {missing} missing")
        return table

    def episode_rows(self) -> list[dict[str, Any]]:
        """``episodes.parquet`` as a list of rows (raises :class:`DatasetError` when unreadable)."""
        return self.episodes.to_pylist()

    # -- contents ----------------------------------------------------------------------------
    def shards(self, split: str | None = None) -> list[dict[str, Any]]:
        """Manifest entries of the shards (of one split, or all), in manifest order."""
        return [s for s in self.manifest["shards"] if split in (None, s["split"])]

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        return self.manifest["features"]

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        return self.manifest["stats"]

    def iter_shard(self, shard: dict[str, Any], wanted: Any = None) -> Iterator[tuple[str, dict[str, bytes]]]:
        """``(key, members)`` of one shard; raises :class:`ShardError` if it is truncated or holds
        fewer samples than the manifest says."""
        n = 0
        with self.open(shard["name"]) as stream:
            for key, members in iter_samples(stream, shard["name"], wanted):
                n += 1
                yield key, members
        if n != shard["samples"]:
            raise ShardError(
                shard["name"],
                None,
                f"holds {n} samples, the manifest says {shard['samples']} (truncated at a member boundary?)",
            )

    def iter_episodes(self, split: str | None = None) -> Iterator[Episode]:
        """Every episode (of a split), decoded to :class:`Episode` (camera frames stay encoded)."""
        for shard in self.shards(split):
            for key, members in self.iter_shard(shard):
                yield members_episode(members, f"{shard['name']}:{key}")

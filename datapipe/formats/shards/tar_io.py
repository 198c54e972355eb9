"""Tar shards: atomic, hashed writing and streaming reading with errors that name the member.

Writing streams members into a temporary file beside the target while computing its sha256, then
renames it: a crash never leaves a partial shard under a final name. Reading streams members in
order from any binary stream (local file, pyarrow filesystem, HTTP response) and groups them into
samples by key (the member name up to its first dot); a truncated or corrupted shard raises
:class:`ShardError` naming the shard and the member being read.
"""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
from collections.abc import Iterator
from typing import IO, Any

from datapipe.errors import DatapipeError
from datapipe.storage import Location, temporary_name


class ShardError(DatapipeError, OSError):
    """A shard cannot be read: truncated, corrupted or missing. Names the shard and member."""

    def __init__(self, shard: str, member: str | None, reason: str):
        self.shard, self.member, self.reason = shard, member, reason
        where = f"{shard}: member {member!r}" if member else shard
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (ShardError, (self.shard, self.member, self.reason))


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, raw: Any):
        self.raw, self.sha256, self.size = raw, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:  # tarfile may call it
        pass


class ShardWriter:
    """Write one tar shard atomically. Use as a context manager or call :meth:`close`.

    Members get mtime 0, mode 0644 and no owner, so the same samples give the same bytes.
    """

    def __init__(self, target: Location):
        self.target = target
        parent = posixpath.dirname(target.path)
        if parent:
            target.fs.create_dir(parent, recursive=True)
        self._tmp = temporary_name(target.path)
        self._raw = target.fs.open_output_stream(self._tmp)
        self._hashing = _HashingWriter(self._raw)
        # PAX: plain ustar headers for short names, an extended header only for longer ones
        self._tar = tarfile.open(fileobj=self._hashing, mode="w|", format=tarfile.PAX_FORMAT)
        self.samples = 0
        self.closed = False

    def add_sample(self, key: str, members: dict[str, bytes]) -> None:
        """Write the members of one sample, named ``<key>.<suffix>``."""
        import io

        for suffix, data in members.items():
            info = tarfile.TarInfo(f"{key}.{suffix}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            self._tar.addfile(info, io.BytesIO(data))
        self.samples += 1

    @property
    def bytes_written(self) -> int:
        """Bytes of the tar so far (members written; the end-of-archive blocks not yet)."""
        return self._hashing.size

    def close(self) -> dict[str, Any]:
        """Finish the tar, rename it into place; return name, samples, bytes and sha256."""
        self._tar.close()
        self._raw.close()
        self.target.fs.move(self._tmp, self.target.path)
        self.closed = True
        return {
            "name": posixpath.basename(self.target.path),
            "samples": self.samples,
            "bytes": self._hashing.size,
            "sha256": self._hashing.sha256.hexdigest(),
        }

    def abort(self) -> None:
        """Drop the temporary file (after an error)."""
        try:
            self._tar.close()
            self._raw.close()
        finally:
            self.target.fs.delete_file(self._tmp)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is not None:
            self.abort()
        elif not self.closed:
            self.close()


def split_member_name(name: str) -> tuple[str, str]:
    """``(key, suffix)`` of a member name: ``"<id>.observation.state.npy"`` ->
    ``("<id>", "observation.state.npy")`` (the key is up to the first dot of the base name)."""
    directory, base = posixpath.split(name)
    key, _, suffix = base.partition(".")
    return posixpath.join(directory, key) if directory else key, suffix


def iter_samples(stream: IO[bytes], shard: str, wanted: Any = None) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Samples of a tar stream in order: ``(key, {suffix: bytes})``.

    ``wanted(key, suffix) -> bool`` selects members to read (others are skipped without keeping
    their bytes); a sample whose members are all skipped still appears, empty, so callers can
    count samples. Raises :class:`ShardError` on a truncated or corrupted tar.
    """
    current: str | None = None
    members: dict[str, bytes] = {}
    member_name: str | None = None
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for info in tar:
                member_name = info.name
                if not info.isfile():
                    continue
                key, suffix = split_member_name(info.name)
                if key != current:
                    if current is not None:
                        yield current, members
                    current, members = key, {}
                if wanted is None or wanted(key, suffix):
                    f = tar.extractfile(info)
                    data = f.read() if f is not None else b""
                    if len(data) != info.size:
                        raise ShardError(shard, info.name, f"truncated: {len(data)} of {info.size} bytes")
                    members[suffix] = data
                member_name = None
    except ShardError:
        raise
    except Exception as exc:  # tarfile raises many types for damaged headers
        raise ShardError(
            shard,
            member_name or (f"after {current}" if current else None),
            f"truncated or corrupted tar ({type(exc).__name__}: {exc})",
        ) from exc
    if current is not None:
        yield current, members

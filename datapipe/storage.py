"""Paths on any filesystem pyarrow understands (local, ``file://``, ``s3://``, ``gs://``, ``hdfs://``).

Writes are atomic: data goes to a temporary name beside the target, then is renamed, so a reader
never takes a half-written file for a complete one. (On object stores a single PUT is already
atomic and the rename is a copy; the guarantee holds either way.)
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

TMP_MARK = ".datapipe-tmp-"  # + 8 hex digits: the temporary name of an atomic write
_TMP_NAME = re.compile(re.escape(TMP_MARK) + r"[0-9a-f]{8}\Z")


def temporary_name(path: str) -> str:
    """A fresh temporary name beside ``path`` for an atomic write (``path.datapipe-tmp-XXXXXXXX``)."""
    return f"{path}{TMP_MARK}{uuid.uuid4().hex[:8]}"


def is_temporary(name: str) -> bool:
    """Whether a file name is one of datapipe's temporaries (a foreign ``x.tmp-1`` is not)."""
    return _TMP_NAME.search(posixpath.basename(name)) is not None


@dataclass(frozen=True)
class Location:
    """A filesystem and a path on it (``/``-separated, without scheme)."""

    fs: pafs.FileSystem
    path: str
    uri: str

    def join(self, *parts: str) -> Location:
        """The location of a child path."""
        joined = posixpath.join(self.path, *parts)
        return Location(self.fs, joined, _join_uri(self.uri, *parts))

    def exists(self) -> bool:
        """Whether a file or folder exists here."""
        return self.fs.get_file_info(self.path).type != pafs.FileType.NotFound

    def makedirs(self) -> None:
        """Create this folder and its parents (no-op on object stores)."""
        self.fs.create_dir(self.path, recursive=True)

    def list(self, suffix: str = "") -> list[Location]:
        """Files directly in this folder whose names end in ``suffix``, sorted, temporaries excluded."""
        if not self.exists():
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=False))
        names = sorted(
            posixpath.basename(i.path)
            for i in infos
            if i.type == pafs.FileType.File and i.path.endswith(suffix) and not is_temporary(i.path)
        )
        return [self.join(n) for n in names]

    def read_bytes(self) -> bytes:
        """The whole file."""
        with self.fs.open_input_stream(self.path) as f:
            return f.read()

    def write_bytes_atomic(self, data: bytes) -> None:
        """Write ``data`` under a temporary name, then rename it to this path."""
        parent = posixpath.dirname(self.path)
        if parent:
            self.fs.create_dir(parent, recursive=True)
        tmp = temporary_name(self.path)
        with self.fs.open_output_stream(tmp) as f:
            f.write(data)
        self.fs.move(tmp, self.path)

    def write_parquet_atomic(self, table: pa.Table) -> None:
        """Write ``table`` as parquet under a temporary name, then rename it to this path."""
        writer = self.parquet_writer(table.schema)
        try:
            writer.write(table)
        except BaseException:
            writer.abort()
            raise
        writer.commit()

    def parquet_writer(self, schema: pa.Schema) -> AtomicParquetWriter:
        """A parquet file written table by table (one row group each) under a temporary name,
        renamed to this path by :meth:`AtomicParquetWriter.commit`."""
        return AtomicParquetWriter(self, schema)

    def read_parquet(self) -> pa.Table:
        """The parquet file at this path as a table."""
        return pq.read_table(self.path, filesystem=self.fs)

    def delete(self) -> None:
        """Remove the file, or the folder and its contents; no error if absent."""
        info = self.fs.get_file_info(self.path)
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path)
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path)

    def remove_temporaries(self, recursive: bool = False) -> int:
        """Delete datapipe's temporary files (:func:`is_temporary`) left in this folder (and, with
        ``recursive``, its subfolders) by interrupted atomic writes; return how many. Files of
        other programs are never touched, whatever their names."""
        if not self.exists():
            return 0
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=recursive))
        stale = [i.path for i in infos if i.type == pafs.FileType.File and is_temporary(i.path)]
        for path in stale:
            self.fs.delete_file(path)
        return len(stale)


def fingerprint_files(uris: list[str]) -> dict[str, object]:
    """What a source lists, for its stage hash: each file's path, size (bytes) and modification
    time (ns) under ``uris`` (files, or folders listed recursively; absent ones count as absent).

    Stat only, no contents: adding, removing, renaming, rewriting or replacing a file (``cp``,
    ``mv`` of another file, an editor, a download) changes a name, a size or an mtime, at the cost
    of one listing however large the files are. A different file copied in with both its size and
    its nanosecond mtime preserved (``cp -p`` of a same-sized file) is the one change it misses:
    ``--force`` recomputes then. Returns ``{"files": count, "stat_sha256": digest}``."""
    import hashlib

    rows: list[str] = []
    for uri in uris:
        loc = resolve(uri)
        info = loc.fs.get_file_info(loc.path)
        if info.type == pafs.FileType.Directory:
            infos = loc.fs.get_file_info(pafs.FileSelector(loc.path, recursive=True))
        else:
            infos = [info]
        for i in infos:
            if i.type == pafs.FileType.File and not is_temporary(i.path):
                rows.append(f"{i.path}\t{i.size}\t{i.mtime_ns}")
            elif i.type == pafs.FileType.NotFound:
                rows.append(f"{i.path}\tabsent")
    digest = hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()
    return {"files": len(rows), "stat_sha256": digest}


MAX_JSON_BYTES = 512 * 2**20  # a metadata file larger than this is refused, not parsed


def parse_json(data: bytes | str, where: str, error: type[Exception] = ValueError) -> Any:
    """Parse a metadata file's JSON, bounded: too large, too deeply nested (``[[[[...``, which
    makes the parser recurse) or invalid raises ``error`` naming ``where``, never a
    ``RecursionError`` traceback."""
    if len(data) > MAX_JSON_BYTES:
        raise error(f"{where}: {len(data)} bytes of JSON, more than {MAX_JSON_BYTES} (not a metadata file)")
    try:
        return json.loads(data)
    except RecursionError:
        raise error(f"{where}: JSON nested too deeply to be metadata") from None
    except ValueError as exc:  # JSONDecodeError and undecodable bytes
        raise error(f"{where}: not valid JSON: {str(exc)[:200]}") from None


def _join_uri(uri: str, *parts: str) -> str:
    return uri.rstrip("/") + "/" + "/".join(p.strip("/") for p in parts) if parts else uri


def resolve(uri: str | os.PathLike) -> Location:
    """A :class:`Location` for a local path (relative paths are made absolute) or a URI."""
    uri = os.fspath(uri)
    if "://" not in uri:
        path = os.path.abspath(os.path.expanduser(uri))
        return Location(pafs.LocalFileSystem(), path, path)
    fs, path = pafs.FileSystem.from_uri(uri)
    return Location(fs, path, uri)


class AtomicParquetWriter:
    """Writes one parquet file in pieces (a row group per :meth:`write`), so a large output never
    sits in memory whole; nothing appears at the target path until :meth:`commit`."""

    def __init__(self, target: Location, schema: pa.Schema):
        parent = posixpath.dirname(target.path)
        if parent:
            target.fs.create_dir(parent, recursive=True)
        self.target, self.tmp, self.rows = target, temporary_name(target.path), 0
        # Episode columns are mostly opaque binary: dictionaries and statistics cost time, not space.
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(
            self.tmp, schema, filesystem=target.fs, use_dictionary=False, write_statistics=False
        )

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            raise ValueError(f"{self.target.uri}: writer already closed")
        if table.num_rows:
            self._writer.write_table(table)
            self.rows += table.num_rows

    def commit(self) -> None:
        """Close the file and rename it to the target."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self.target.fs.move(self.tmp, self.target.path)

    def abort(self) -> None:
        """Close and delete the temporary file (the target is untouched)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            Location(self.target.fs, self.tmp, self.tmp).delete()

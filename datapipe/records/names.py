"""Names that become file names, tar member names or path components, made safe.

- Step-array and camera names (``observation.state``, ``front``) are checked where episodes are
  built (:data:`NAME`): letters, digits, ``_``, ``-`` and ``.``, no ``..``, at most 64 characters.
  Readers of foreign datasets map other feature keys through :func:`safe_name`.
- Episode ids are free text (a community dataset's ids may hold dots, slashes or anything); the
  key of an episode's WebDataset sample is :func:`sample_key` of its id: the id itself when it
  is a plain identifier, otherwise a readable prefix plus a hash. The id itself stays in the
  sample's ``meta.json``.
- Paths read from a dataset's own files (``index.json`` shard names, ``info.json`` path
  templates) go through :func:`confined`, so nothing outside the dataset root is opened.
"""

from __future__ import annotations

import hashlib
import posixpath
import re

from datapipe.errors import DatapipeError

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")  # a tar key ends at the first dot: none in it


class UnsafePathError(DatapipeError):
    """A path read from a dataset's files points outside the dataset."""


def is_safe_name(name: object) -> bool:
    """Whether ``name`` can be an array or camera name (part of file and member names)."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None and ".." not in name and not name.endswith(".")


def _encoded(text: str, empty: str, digits: int) -> str:
    """A safe stand-in for ``text``: its letters, digits, ``_`` and ``-`` (at most 40, ``empty``
    when none), a dash and ``digits`` hex digits of its sha256."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:40]
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:digits]
    return f"{slug or empty}-{digest}"


def safe_name(name: str) -> str:
    """``name`` when safe, else a safe name made from it (readable part plus a short hash)."""
    return name if is_safe_name(name) else _encoded(name, "x", 8)


def sample_key(episode_id: str) -> str:
    """The WebDataset sample key (tar member name prefix) of an episode id."""
    return episode_id if KEY.fullmatch(episode_id) else _encoded(episode_id, "id", 16)


def confined(rel: str, where: str) -> str:
    """``rel`` normalised as a path inside a dataset root; raise :class:`UnsafePathError` naming
    ``where`` when it is absolute, climbs out with ``..`` or holds odd characters."""
    if (
        not isinstance(rel, str)
        or not rel
        or "\x00" in rel
        or "\\" in rel
        or rel.startswith("/")
        or re.match(r"^[A-Za-z]+:", rel)
    ):
        raise UnsafePathError(f"{where}: path {rel!r} is not a relative path inside the dataset")
    norm = posixpath.normpath(rel)
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise UnsafePathError(f"{where}: path {rel!r} points outside the dataset")
    return norm

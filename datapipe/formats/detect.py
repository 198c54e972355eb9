"""Which dataset format a path holds: the one detector ``datapipe audit`` and ``datapipe
inspect`` share (local paths and URIs), with one error type."""

from __future__ import annotations

from pathlib import Path

from datapipe.errors import DatapipeError

FORMATS = ("webdataset", "lerobot", "rlds", "hdf5")
"""datapipe shards (``index.json``), LeRobot (``meta/info.json``), RLDS / TFDS (``features.json``
and ``dataset_info.json``), HDF5 demonstrations (``.hdf5`` / ``.h5`` files)."""

DESCRIBED = {
    "webdataset": "a datapipe shard dataset (index.json)",
    "lerobot": "a LeRobot dataset (meta/info.json)",
    "rlds": "an RLDS dataset (features.json + dataset_info.json)",
    "hdf5": "HDF5 demonstrations (.hdf5 files)",
}


class FormatError(DatapipeError):
    """A path that holds no dataset datapipe reads (or none the caller accepts); names the path."""


def _is_hdf5(path: str) -> bool:
    p = Path(path)
    if p.is_file():
        return p.suffix in (".hdf5", ".h5")
    return p.is_dir() and any(f.suffix in (".hdf5", ".h5") for f in p.rglob("*"))


def detect_format(path: str, accept: tuple[str, ...] = FORMATS) -> str:
    """One of :data:`FORMATS` that ``accept`` names, for the dataset at ``path`` (a local path or
    a URI pyarrow understands); :class:`FormatError` names the path and what was expected."""
    from datapipe.storage import resolve

    local = "://" not in path or path.startswith("file://")
    if local and not Path(path.removeprefix("file://")).exists():
        raise FormatError(f"{path}: no such file or folder")
    try:
        root = resolve(path)
        found = next(
            (
                fmt
                for fmt, marker in (
                    ("webdataset", ("index.json",)),
                    ("lerobot", ("meta", "info.json")),
                    ("rlds", ("features.json",)),
                )
                if root.join(*marker).exists() and (fmt != "rlds" or root.join("dataset_info.json").exists())
            ),
            None,
        )
    except (OSError, ValueError) as exc:
        raise FormatError(f"{path}: cannot open ({exc})") from None
    if found is None and local and _is_hdf5(path.removeprefix("file://")):
        found = "hdf5"
    wanted = " or ".join(DESCRIBED[f] for f in accept)
    if found is None:
        raise FormatError(f"{path}: not a dataset datapipe reads (expected {wanted})")
    if found not in accept:
        raise FormatError(f"{path}: {DESCRIBED[found]}; this command reads {wanted}")
    return found

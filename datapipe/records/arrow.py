"""Lossless conversion between :class:`~datapipe.records.Episode` and Arrow rows.

:func:`episode_to_row` gives a plain dict that matches ``datapipe.schemas.episode.EPISODE_SCHEMA``
(what Ray Data rows and parquet files hold); :func:`row_to_episode` inverts it bit-exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from datapipe.records import (
    CameraStream,
    Embodiment,
    Episode,
    LineageEntry,
    RecordError,
    Source,
    json_meta,
)
from datapipe.schemas.episode import EPISODE_SCHEMA


def tensor_to_row(name: str, arr: np.ndarray) -> dict[str, Any]:
    arr = np.ascontiguousarray(arr)
    dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    return {
        "name": name,
        "dtype": dtype.str,
        "shape": list(arr.shape),
        "data": arr.astype(dtype, copy=False).tobytes(),
    }


def _row_to_tensor(row: Mapping[str, Any]) -> np.ndarray:
    try:
        dtype = np.dtype(row["dtype"])
        arr = np.frombuffer(row["data"], dtype=dtype)
        return arr.reshape(tuple(row["shape"]))
    except (TypeError, ValueError) as exc:
        raise RecordError(f"steps[{row.get('name')!r}] cannot be decoded: {exc}") from exc


def episode_to_row(ep: Episode) -> dict[str, Any]:
    """The Arrow row (a dict matching ``EPISODE_SCHEMA``) of an episode."""
    emb = ep.embodiment
    return {
        "episode_id": ep.episode_id,
        "source": {
            "kind": ep.source.kind,
            "uri": ep.source.uri,
            "span": ep.source.span,
            "licence": ep.source.licence,
        },
        "embodiment": {
            "robot": emb.robot,
            "action_names": list(emb.action_names),
            "action_units": list(emb.action_units),
            "action_frame": emb.action_frame,
            "state_names": list(emb.state_names),
            "control_fps": emb.control_fps,
            "action_kinds": list(emb.action_kinds),
        },
        "task": list(ep.task),
        "fps": float(ep.fps),
        "length": ep.length,
        "steps": [tensor_to_row(k, v) for k, v in ep.steps.items()],
        "cameras": [
            {
                "name": name,
                "encoding": cam.encoding,
                "width": cam.width,
                "height": cam.height,
                "n_frames": cam.n_frames,
                "data": list(cam.data),
            }
            for name, cam in ep.cameras.items()
        ],
        "success": None if ep.success is None else bool(ep.success),
        "meta": json.dumps(dict(ep.meta), sort_keys=True),
        "lineage": [{"stage": e.stage, "version": e.version, "config_hash": e.config_hash} for e in ep.lineage],
    }


def row_to_episode(row: Mapping[str, Any]) -> Episode:
    """Rebuild an episode from its Arrow row (as given by ``to_pylist`` or Ray Data)."""
    try:
        src, emb = row["source"], row["embodiment"]
        return Episode(
            episode_id=row["episode_id"],
            source=Source(kind=src["kind"], uri=src["uri"], span=src["span"], licence=src["licence"]),
            embodiment=Embodiment(
                robot=emb["robot"],
                action_names=tuple(emb["action_names"] or ()),
                action_units=tuple(emb["action_units"] or ()),
                action_frame=emb["action_frame"] or "",
                state_names=tuple(emb["state_names"] or ()),
                control_fps=emb["control_fps"],
                action_kinds=tuple(emb.get("action_kinds") or ()),
            ),
            task=tuple(row["task"]),
            fps=float(row["fps"]),
            steps={t["name"]: _row_to_tensor(t) for t in row["steps"]},
            cameras={
                c["name"]: CameraStream(
                    encoding=c["encoding"],
                    width=int(c["width"]),
                    height=int(c["height"]),
                    n_frames=int(c["n_frames"]),
                    data=tuple(c["data"]),
                )
                for c in row["cameras"]
            },
            success=None if row["success"] is None else bool(row["success"]),
            meta=json_meta(row["meta"]),
            lineage=tuple(
                LineageEntry(stage=e["stage"], version=e["version"], config_hash=e["config_hash"])
                for e in row["lineage"]
            ),
        )
    except KeyError as exc:
        raise RecordError(f"episode row lacks field {exc.args[0]!r}") from exc


def episodes_to_table(episodes: Iterable[Episode]) -> pa.Table:
    """A ``pa.Table`` of ``EPISODE_SCHEMA`` with one row per episode."""
    return pa.Table.from_pylist([episode_to_row(e) for e in episodes], schema=EPISODE_SCHEMA)


def table_to_episodes(table: pa.Table) -> list[Episode]:
    """The episodes of a table of ``EPISODE_SCHEMA`` (extra columns are ignored)."""
    return [row_to_episode(r) for r in table.select(EPISODE_SCHEMA.names).to_pylist()]

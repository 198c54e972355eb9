"""Sources whose cameras differ in size in one dataset: sink.webdataset keeps each episode's sizes
(listed in the manifest and episodes.parquet) or resizes them all with ``image_size``; the stream
and the audit read both."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from datapipe.audit.datasets import audit_dataset
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.training.stream import ShardStream

CAM = {"cameras": ["front"]}


def _mixed(tmp_path, **sink) -> ShardDataset:
    doc = {
        "name": "mixed",
        "stages": [
            {
                "id": "small",
                "uses": "source.synthetic",
                "with": {**CAM, "seed": 1, "episodes": 3, "image_size": [24, 32]},
            },
            {
                "id": "big",
                "uses": "source.synthetic",
                "with": {**CAM, "seed": 2, "episodes": 2, "image_size": [40, 40]},
            },
            {
                "id": "out",
                "uses": "sink.webdataset",
                "needs": ["small", "big"],
                "with": {"path": str(tmp_path / "ds"), "val_fraction": 0.0, **sink},
            },
        ],
    }
    result = run_workflow(parse_workflow(doc, "mixed.yaml"), out=str(tmp_path / "run"), progress=False)
    assert result.ok, result.error
    return ShardDataset(str(tmp_path / "ds"))


def test_cameras_of_different_sizes_go_into_one_dataset(ray_session, tmp_path):
    ds = _mixed(tmp_path)
    spec = ds.features["front"]
    assert spec["shape"] is None and spec["shapes"] == [[24, 32, 3], [40, 40, 3]]
    rows = pq.read_table(tmp_path / "ds" / "episodes.parquet").to_pylist()
    sizes = sorted(json.loads(r["camera_shapes"])["front"][0] for r in rows)
    assert sizes == [24, 24, 24, 40, 40]
    eps = list(ds.iter_episodes())
    assert sorted(e.cameras["front"].frames().shape[1] for e in eps) == sizes
    seen = {tuple(s["observation.images.front"].shape[:2]) for s in ShardStream(ds, shuffle=False)}
    assert seen == {(24, 32), (40, 40)}
    _, summary = audit_dataset(str(tmp_path / "ds"))
    assert summary["findings"] == [] and summary["cameras"]["front"]["sizes"] == {"24x32": 3, "40x40": 2}


def test_image_size_resizes_every_camera_to_one_size(ray_session, tmp_path):
    ds = _mixed(tmp_path, image_size=[32, 32])
    assert ds.features["front"]["shape"] == [32, 32, 3]
    eps = list(ds.iter_episodes())
    assert all(e.cameras["front"].frames().shape[1:3] == (32, 32) for e in eps)
    resized = sorted(tuple(e.meta["resized_cameras"]["front"]) for e in eps)
    assert resized == [(24, 32)] * 3 + [(40, 40)] * 2

"""Sinks own only what they wrote: foreign folders are refused, reuse is true to the config that
produced a dataset, and rewriting deletes only the sink's own files."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe.cli import main
from datapipe.formats.ownership import OWNER_FILE
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.records.arrow import table_to_episodes
from tests.helpers import expected_synthetic, read_sink

WF = """
name: own
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 12, episodes_per_shard: 4, seed: 5, cameras: [front], image_size: [16, 16]}
  - id: keep
    uses: filter.expr
    needs: [src]
    with: {expr: 'meta["quality"] > 0.2'}
  - id: parquet
    uses: sink.parquet
    needs: [keep]
    with: {path: "OUT/parquet"}
  - id: shards
    uses: sink.webdataset
    needs: [keep]
    with: {path: "OUT/shards", shard_max_episodes: 4}
  - id: lerobot
    uses: sink.lerobot
    needs: [keep]
    with: {path: "OUT/lerobot"}
"""


def _run(path, run_dir, *extra) -> int:
    return main(["run", str(path), "--out", str(run_dir), "--local", "--no-progress", *extra])


def _expected_ids(seed: int) -> set[str]:
    return {
        e.episode_id
        for e in expected_synthetic(12, seed=seed, cameras=("front",), image_size=(16, 16))
        if e.meta["quality"] > 0.2
    }


def test_flipping_a_config_back_gives_that_configs_datasets(write_workflow, tmp_path):
    """The stale-reuse defect: seed 8, then the original seed again, must give seed 5's datasets."""
    wf = write_workflow(WF.replace("OUT", str(tmp_path)))
    assert _run(wf, tmp_path / "run") == 0
    assert _run(wf, tmp_path / "run", "--set", "src.seed=8") == 0
    assert _run(wf, tmp_path / "run") == 0
    want = _expected_ids(5)
    assert {e.episode_id for e in read_sink(tmp_path / "parquet")} == want
    assert set(ShardDataset(str(tmp_path / "shards")).episodes.column("episode_id").to_pylist()) == want
    info = json.loads((tmp_path / "lerobot" / "meta" / "info.json").read_text())
    assert info["total_episodes"] == len(want)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["parquet"]["counts"]["in"] == len(want)
    # and a fourth run with nothing changed reuses every stage, datasets untouched
    before = (tmp_path / "shards" / "index.json").read_bytes()
    assert _run(wf, tmp_path / "run") == 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert {s["status"] for s in manifest["stages"].values()} == {"reused"}
    assert (tmp_path / "shards" / "index.json").read_bytes() == before


def test_parquet_sink_refuses_a_foreign_table_and_keeps_it_with_overwrite(write_workflow, tmp_path, capsys):
    table = tmp_path / "parquet"
    table.mkdir()
    spark = [table / "part-00000-c000.snappy.parquet", table / "part-00001-c000.snappy.parquet"]
    for f in spark:
        pq.write_table(pa.table({"x": [1, 2]}), f)
    wf = write_workflow(WF.replace("OUT", str(tmp_path)))
    assert _run(wf, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert str(table) in err and "overwrite" in err and "Traceback" not in err
    assert all(f.exists() for f in spark)
    wf2 = write_workflow(
        WF.replace("OUT", str(tmp_path)).replace(
            f'path: "{tmp_path}/parquet"}}', f'path: "{tmp_path}/parquet", overwrite: true}}'
        ),
        "wf2.yaml",
    )
    assert _run(wf2, tmp_path / "run2") == 0
    assert all(f.exists() for f in spark)  # never deleted
    index = json.loads((table / "_datapipe_index.json").read_text())
    ours = {e.episode_id for name in index["files"] for e in table_to_episodes(pq.read_table(table / name))}
    assert ours == _expected_ids(5)  # our parts, listed by the index, beside the foreign ones
    owner = json.loads((table / OWNER_FILE).read_text())
    assert sorted(owner["foreign"]) == sorted(f.name for f in spark)


def test_lerobot_sink_at_dot_refuses_and_never_deletes_the_users_folders(write_workflow, tmp_path, monkeypatch, capsys):
    work = tmp_path / "project"
    for folder in ("data", "videos", "meta"):
        (work / folder).mkdir(parents=True)
        (work / folder / "mine.txt").write_text("the user's own file")
    monkeypatch.chdir(work)
    wf = write_workflow(WF.replace("OUT/lerobot", ".").replace("OUT", str(tmp_path)))
    assert _run(wf, tmp_path / "run") == 2
    assert "not empty" in capsys.readouterr().err
    assert all((work / f / "mine.txt").exists() for f in ("data", "videos", "meta"))
    wf2 = write_workflow(
        WF.replace('"OUT/lerobot"}', '".", overwrite: true}').replace("OUT", str(tmp_path)), "wf2.yaml"
    )
    assert _run(wf2, tmp_path / "run") == 0
    assert all((work / f / "mine.txt").exists() for f in ("data", "videos", "meta"))
    assert json.loads((work / "meta" / "info.json").read_text())["total_episodes"] == len(_expected_ids(5))


def test_two_run_directories_cannot_share_a_sink_folder(write_workflow, tmp_path, capsys):
    wf = write_workflow(WF.replace("OUT", str(tmp_path)))
    assert _run(wf, tmp_path / "run_a") == 0
    assert _run(wf, tmp_path / "run_b") == 2
    assert "run_a" in capsys.readouterr().err
    assert {e.episode_id for e in read_sink(tmp_path / "parquet")} == _expected_ids(5)

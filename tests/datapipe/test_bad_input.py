"""Bad input exits 2 with one line naming the file, stage and field; never a traceback, never a
hang. Failures cost one episode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from datapipe.cli import main
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from tests.conftest import REPO
from tests.damage import make_shards, rewrite_sample
from tests.helpers import read_sink

SRC = "name: t\nstages:\n  - id: src\n    uses: source.synthetic\n    with: {episodes: 4}\n"


def _validate(path: Path, capsys) -> tuple[int, str]:
    rc = main(["validate", str(path)])
    return rc, capsys.readouterr().err


def _alias_bomb(levels: int = 12) -> str:
    lines = ["name: t", "description: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"d{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nstages: []\n"


CASES = {
    "stages null": ("name: t\nstages:\n", "field 'stages'"),
    "stages int": ("name: t\nstages: 3\n", "field 'stages'"),
    "list as id": ("name: t\nstages:\n  - id: [1, 2]\n    uses: source.synthetic\n", "field 'id'"),
    "nested 900": ("name: t\nstages: " + "[" * 900 + "]" * 900 + "\n", "nested deeper"),
    "expression 5000 deep": (
        SRC
        + "  - id: f\n    uses: filter.expr\n    needs: [src]\n    with: {expr: '"
        + "(" * 5000
        + "1"
        + ")" * 5000
        + "'}\n",
        "stage 'f': field 'with.expr'",
    ),
    "expression 100 nots": (
        SRC + "  - id: f\n    uses: filter.expr\n    needs: [src]\n    with: {expr: '" + "not " * 100 + "True'}\n",
        "nested deeper than",
    ),
    "int of 5000 digits": (SRC.replace("episodes: 4", "episodes: " + "9" * 5000), "integer of 5000 digits"),
    "episodes 1e30": (SRC.replace("episodes: 4", "episodes: 1000000000000000000000000000"), "field 'with.episodes'"),
    "alias bomb": (_alias_bomb(), "aliases expand"),
    "nan error rate": (SRC + "    max_error_rate: .nan\n", "field 'max_error_rate': nan is not a finite number"),
    "inf cpus": (SRC + "    resources: {cpus: .inf}\n", "field 'resources.cpus'"),
    "nan float param": (SRC.replace("episodes: 4", "episodes: 4, fps: .nan"), "field 'with.fps'"),
    "range names its field": (
        SRC.replace("episodes: 4", "episodes: 4, min_length: 30, max_length: 10"),
        "field 'with.max_length'",
    ),
    "post-init on a later field": (
        "name: t\nstages:\n  - id: src\n    uses: source.synthetic\n  - id: out\n"
        "    uses: sink.webdataset\n    needs: [src]\n"
        "    with: {path: x, val_fraction: 0.5, shard_max_episodes: 0}\n",
        "field 'with.shard_max_episodes'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_workflows_exit_2_naming_what_is_wrong(case, tmp_path, capsys):
    text, expected = CASES[case]
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    started = time.perf_counter()
    rc, err = _validate(path, capsys)
    assert rc == 2 and expected in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert time.perf_counter() - started < 10


def test_not_utf8_and_a_reversed_chain_of_1500_stages(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\nstages: []\n".encode("latin-1"))
    rc, err = _validate(path, capsys)
    assert rc == 2 and "not UTF-8" in err
    chain = "name: t\nstages:\n" + "".join(
        f"  - id: s{i}\n    uses: filter.expr\n    needs: [s{i + 1}]\n    with: {{expr: 'True'}}\n" for i in range(1500)
    )
    path.write_text(chain + "  - id: s1500\n    uses: source.synthetic\n")
    rc, err = _validate(path, capsys)
    assert rc == 0, err


@pytest.mark.parametrize(
    "resources, expected",
    [
        ("resources: {cpus: 64}", "cpus=64"),
        ("resources: {gpus: 1}", "gpus=1"),
        ("concurrency: 1000000", "field 'concurrency': 1000000 workers"),
    ],
)
def test_resources_no_node_has_are_refused_before_running(ray_session, tmp_path, capsys, resources, expected):
    path = tmp_path / "wf.yaml"
    path.write_text(SRC + f"  - id: f\n    uses: debug.noop\n    needs: [src]\n    {resources}\n")
    started = time.perf_counter()
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "stage" in err and "Traceback" not in err
    assert time.perf_counter() - started < 30


def _cli(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_ADDRESS": ""}
    return subprocess.run(
        [sys.executable, "-m", "datapipe", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
        **kw,
    )


def test_an_unreachable_address_fails_within_seconds(tmp_path):
    path = tmp_path / "wf.yaml"
    path.write_text(SRC)
    started = time.perf_counter()
    proc = _cli("run", str(path), "--out", str(tmp_path / "run"), "--address", "127.0.0.1:1", "--no-progress")
    assert proc.returncode == 2 and "127.0.0.1:1" in proc.stderr and "Traceback" not in proc.stderr
    assert time.perf_counter() - started < 20


def test_ctrl_c_exits_130_and_marks_the_manifest_interrupted(tmp_path):
    path = tmp_path / "wf.yaml"
    path.write_text(
        SRC.replace("episodes: 4", "episodes: 200, episodes_per_shard: 1")
        + "  - id: slow\n    uses: debug.sleep\n    needs: [src]\n    with: {ms: 200}\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "datapipe",
            "run",
            str(path),
            "--out",
            str(tmp_path / "run"),
            "--local",
            "--no-progress",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    manifest = tmp_path / "run" / "manifest.json"
    deadline = time.time() + 60
    while not (manifest.exists() and json.loads(manifest.read_text())["status"] == "running"):
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert json.loads(manifest.read_text())["status"] == "interrupted"


def test_odd_output_paths_and_limits_exit_2(tmp_path, capsys):
    root = make_shards(tmp_path / "ds")
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert main(["audit", str(root), "--out", str(blocker / "sub"), "--no-progress"]) == 2
    assert str(blocker) in capsys.readouterr().err
    path = tmp_path / "wf.yaml"
    path.write_text(SRC)
    assert main(["run", str(path), "--out", str(blocker / "run"), "--local", "--no-progress"]) == 2
    assert "run directory" in capsys.readouterr().err
    for limits in (
        "[1, 2]",
        '{"action": [0, 1]}',
        '{"action": {"min": ["a"]}}',
        '{"action": {"min": [0, 0, 0]}}',
        "not json",
    ):
        (tmp_path / "limits.json").write_text(limits)
        rc = main(
            [
                "audit",
                str(root),
                "--out",
                str(tmp_path / "a"),
                "--limits",
                str(tmp_path / "limits.json"),
                "--no-progress",
            ]
        )
        err = capsys.readouterr().err
        assert rc == 2 and "limits" in err and "Traceback" not in err, (limits, err)


def test_tex_like_instructions_render_in_the_report(tmp_path):
    root = make_shards(tmp_path / "ds", tasks=["pick up the $5 bill", "move $x to $y$ and $"])
    assert main(["audit", str(root), "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    assert (tmp_path / "a" / "report.html").stat().st_size > 1000


def _lerobot_export(tmp_path: Path, n: int = 10) -> Path:
    doc = {
        "name": "lr",
        "stages": [
            {
                "id": "src",
                "uses": "source.synthetic",
                "with": {
                    "episodes": n,
                    "seed": 2,
                    "min_length": 5,
                    "max_length": 8,
                    "cameras": ["front"],
                    "image_size": [16, 16],
                },
            },
            {"id": "out", "uses": "sink.lerobot", "needs": ["src"], "with": {"path": str(tmp_path / "lr")}},
        ],
    }
    assert run_workflow(parse_workflow(doc, "lr.yaml"), out=str(tmp_path / "run-lr"), runner="local", progress=False).ok
    return tmp_path / "lr"


def _import(lr: Path, tmp_path: Path, name: str):
    doc = {
        "name": "imp",
        "defaults": {"max_error_rate": 0.5},
        "stages": [
            {"id": "src", "uses": "source.lerobot", "with": {"path": str(lr), "episodes_per_shard": 5}},
            {"id": "out", "uses": "sink.parquet", "needs": ["src"], "with": {"path": str(tmp_path / name)}},
        ],
    }
    return run_workflow(
        parse_workflow(doc, "imp.yaml"), out=str(tmp_path / f"run-{name}"), runner="local", progress=False
    )


def _strict_breaking_flip(data: bytes) -> bytes:
    """``data`` with one byte flipped where the strict decoder notices (found, not guessed)."""
    from datapipe.records.video import VideoError, decode_mp4

    for pos in range(len(data) // 3, len(data), 7):
        broken = bytearray(data)
        broken[pos] ^= 0x40
        try:
            decode_mp4(bytes(broken), strict=True)
        except VideoError:
            return bytes(broken)
    raise AssertionError("no detectable flip found")


def test_lerobot_damage_costs_one_episode_and_bad_info_exits_2(tmp_path, capsys):
    lr = _lerobot_export(tmp_path)
    videos = sorted((lr / "videos").rglob("*.mp4"))
    videos[1].write_bytes(b"not an mp4 at all")  # episode 1: garbage
    videos[7].write_bytes(_strict_breaking_flip(videos[7].read_bytes()))  # episode 7: one flipped byte
    result = _import(lr, tmp_path, "pq")
    assert result.ok, result.error
    assert result.counts("src")["in"] == 10 and result.counts("src")["failed"] == 2
    assert len(read_sink(tmp_path / "pq")) == 8
    keys = sorted(r["input_key"] for r in result.plan.get("src").read_quarantine().to_pylist())
    assert keys == ["episodes-000000-000004#episode_index=1", "episodes-000005-000009#episode_index=7"]
    info = json.loads((lr / "meta" / "info.json").read_text())
    for broken, field in (
        ({**info, "fps": 0}, "fps"),
        ({k: v for k, v in info.items() if k != "features"}, "features"),
        ({**info, "video_path": "../../{video_key}.mp4"}, "outside"),
    ):
        (lr / "meta" / "info.json").write_text(json.dumps(broken))
        path = tmp_path / "wf.yaml"
        path.write_text(
            f"name: t\nstages:\n  - id: src\n    uses: source.lerobot\n    with: {{path: {lr}}}\n"
            f"  - id: out\n    uses: sink.parquet\n    needs: [src]\n    with: {{path: {tmp_path / 'o'}}}\n"
        )
        rc = main(["run", str(path), "--out", str(tmp_path / f"run-{field}"), "--local", "--no-progress"])
        err = capsys.readouterr().err
        if field == "outside":  # a template pointing outside fails every episode: quarantined, named
            assert rc == 1 and "points outside the dataset" in json.dumps(
                [r["error_message"] for r in _quarantine(tmp_path / f"run-{field}")]
            ), err
        else:
            assert rc == 2 and f"field '{field}'" in err and "Traceback" not in err, err


def _quarantine(run: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [r for f in run.glob("quarantine/*/*.parquet") for r in pq.read_table(f).to_pylist()]


def test_a_sink_that_cannot_write_one_episode_writes_the_rest(tmp_path):
    root = make_shards(tmp_path / "ds")
    short = __import__("datapipe.records.video", fromlist=["encode_mp4"]).encode_mp4(
        np.zeros((2, 16, 16, 3), np.uint8), 10.0
    )
    rewrite_sample(root, 3, lambda m: {**m, "front.mp4": short})
    doc = {
        "name": "rewrite",
        "defaults": {"max_error_rate": 0.5},
        "stages": [
            {"id": "src", "uses": "source.webdataset", "with": {"path": str(root), "verify_videos": False}},
            {"id": "out", "uses": "sink.webdataset", "needs": ["src"], "with": {"path": str(tmp_path / "out")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "rw.yaml"), out=str(tmp_path / "run"), runner="local", progress=False)
    assert result.ok, result.error
    assert result.counts("out") == {**result.counts("out"), "in": 8, "out": 7, "failed": 1}
    (q,) = result.plan.get("out").read_quarantine().to_pylist()
    assert "2 frames for" in q["error_message"]
    assert json.loads((tmp_path / "out" / "index.json").read_text())["episodes"] == 7


def test_a_fenced_out_worker_reports_the_cause_not_rays_retries(ray_session, tmp_path):
    import ray

    from datapipe.engine.rundir import RunDir, StaleRunError
    from datapipe.engine.runners.ray_runner import _ray_error_text

    run = RunDir(str(tmp_path / "run"))
    run.new_epoch()

    @ray.remote(max_retries=0)
    def commit(uri: str) -> None:
        RunDir(uri).check_epoch("an-older-epoch")

    with pytest.raises(Exception) as info:
        ray.get(commit.remote(str(tmp_path / "run")))
    assert isinstance(info.value, StaleRunError)
    _, text, bad_input = _ray_error_text(RuntimeError("Ray Data failed"))  # no cause: the message itself
    assert text.endswith("Ray Data failed")
    wrapped = RuntimeError("task failed after 5 retries")
    wrapped.__cause__ = info.value
    _, text, _ = _ray_error_text(wrapped)
    assert "a newer run" in text and "owns this run directory" in text and "retries" not in text


def test_crafted_feature_keys_never_reach_paths_outside_the_dataset(tmp_path):
    lr = _lerobot_export(tmp_path, n=3)
    info = json.loads((lr / "meta" / "info.json").read_text())
    evil = "observation.images.../../../evil"
    info["features"][evil] = info["features"].pop("observation.images.front")
    (lr / "meta" / "info.json").write_text(json.dumps(info))
    import pyarrow.parquet as pq

    episodes = next((lr / "meta" / "episodes").rglob("*.parquet"))
    table = pq.read_table(episodes)
    renamed = [c.replace("observation.images.front", evil) for c in table.column_names]
    pq.write_table(table.rename_columns(renamed), episodes)
    # where the template now points (inside the dataset after normalisation) gets the videos
    for mp4 in sorted((lr / "videos" / "observation.images.front").rglob("*.mp4")):
        target = lr / "videos" / Path(evil) / mp4.relative_to(lr / "videos" / "observation.images.front")
        target = Path(os.path.normpath(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        mp4.rename(target)
    doc = {
        "name": "craft",
        "stages": [
            {"id": "src", "uses": "source.lerobot", "with": {"path": str(lr)}},
            {"id": "out", "uses": "sink.lerobot", "needs": ["src"], "with": {"path": str(tmp_path / "again" / "lr")}},
        ],
    }
    result = run_workflow(parse_workflow(doc, "craft.yaml"), out=str(tmp_path / "run"), runner="local", progress=False)
    assert result.ok, result.error
    written = [p for p in (tmp_path / "again").rglob("*") if p.is_file()]
    assert written and all((tmp_path / "again" / "lr") in p.parents for p in written)
    assert not list(tmp_path.glob("evil*")) and not list((tmp_path / "again").glob("evil*"))
    cams = [
        k
        for k in json.loads((tmp_path / "again" / "lr" / "meta" / "info.json").read_text())["features"]
        if k.startswith("observation.images.")
    ]
    assert len(cams) == 1 and ".." not in cams[0] and "/" not in cams[0]


def test_version_names_datapipe_and_what_it_runs_on(capsys):
    from datapipe import __version__
    from datapipe.cli import main as cli_main

    with pytest.raises(SystemExit) as done:
        cli_main(["--version"])
    assert done.value.code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"datapipe {__version__}, Python 3.") and "ray " in line and "\n" not in line

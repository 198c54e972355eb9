"""Sinks never destroy a user's data: empty paths, shared paths, concurrent runs, ``overwrite``
and kills inside finalize (issue 24, items 1, 3, 4 and 5)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from datapipe.cli import main
from datapipe.engine.run import run_workflow
from datapipe.engine.rundir import StageDir
from datapipe.engine.workflow import WorkflowError, load_workflow
from datapipe.formats.ownership import OWNER_FILE
from tests.helpers import read_sink

SINKS = {
    "sink.parquet": "{path: PATH}",
    "sink.webdataset": "{path: PATH}",
    "sink.lerobot": "{path: PATH}",
    "audit.report": "{path: PATH, check_cameras: false}",
}

ONE_SINK = """
name: one
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 6, episodes_per_shard: 3, seed: 2, cameras: [front], image_size: [16, 16]}
  - id: out
    uses: USES
    needs: [src]
    with: WITH
"""


def _one(uses: str, path: str) -> str:
    return ONE_SINK.replace("USES", uses).replace("WITH", SINKS[uses].replace("PATH", json.dumps(path)))


def _run(path, run_dir, *extra) -> int:
    return main(["run", str(path), "--out", str(run_dir), "--local", "--no-progress", *extra])


@pytest.mark.parametrize("uses", sorted(SINKS))
@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_an_empty_sink_path_is_refused_and_the_current_directory_is_untouched(
    uses, blank, write_workflow, tmp_path, monkeypatch, capsys
):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    mine = {"index.json": b"{}", "episodes.parquet": b"mine", "summary.json": b"mine", "a.tar": b"tar"}
    for name, data in mine.items():
        (cwd / name).write_bytes(data)
    monkeypatch.chdir(cwd)
    wf = write_workflow(_one(uses, blank))
    with pytest.raises(WorkflowError) as info:
        load_workflow(wf)
    assert (info.value.stage_id, info.value.field) == ("out", "with.path") and "is empty" in str(info.value)
    assert _run(wf, tmp_path / "run") == 2
    assert "with.path" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in cwd.iterdir()} == mine


SHARED = """
name: shared
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 4, seed: 1}
  - id: a
    uses: sink.webdataset
    needs: [src]
    with: {path: PATH_A}
  - id: b
    uses: sink.parquet
    needs: [src]
    with: {path: PATH_B}
"""


@pytest.mark.parametrize(
    ("a", "b", "how"),
    [("out/x", "out/x", "is the same folder as"), ("out/x", "out/x/y", "is inside"), ("out/x/y", "./out/x/", "holds")],
)
def test_two_sinks_of_one_workflow_sharing_a_folder_are_refused(a, b, how, write_workflow, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wf = write_workflow(SHARED.replace("PATH_A", a).replace("PATH_B", b))
    with pytest.raises(WorkflowError) as info:
        load_workflow(wf)
    assert (info.value.stage_id, info.value.field) == ("b", "with.path")
    assert how in str(info.value) and "'a'" in str(info.value)
    assert not (tmp_path / "out").exists()


SLOW = """
name: slow
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 4, episodes_per_shard: 1, seed: SEED}
  - id: wait
    uses: debug.sleep
    needs: [src]
    with: {ms: 500}
  - id: out
    uses: sink.parquet
    needs: [wait]
    with: {path: PATH}
"""


def _start_run_a(write_workflow, tmp_path, folder) -> tuple[threading.Thread, dict]:
    """Run A (seed 1, slow) into ``folder`` on a thread; its RunResult lands in ``result["r"]``."""
    first = load_workflow(write_workflow(SLOW.replace("SEED", "1").replace("PATH", str(folder)), "a.yaml"))
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(r=run_workflow(first, str(tmp_path / "run_a"), runner="local", progress=False))
    )
    thread.start()
    return thread, result


def test_a_second_run_into_a_sink_folder_being_written_is_refused_at_its_start(write_workflow, tmp_path, capsys):
    """The first run's claim is on disk from its start: the second (a different run directory,
    started while the first still writes) is refused at once; only the first's data is there."""
    sink = tmp_path / "table"
    thread, result = _start_run_a(write_workflow, tmp_path, sink)
    try:
        deadline = time.time() + 30
        while not (sink / OWNER_FILE).exists() and time.time() < deadline:
            time.sleep(0.05)
        assert json.loads((sink / OWNER_FILE).read_text())["state"] == "writing"
        assert not list(sink.glob("part-*.parquet"))  # nothing written yet: the old claim let B in here
        second = write_workflow(SLOW.replace("SEED", "2").replace("PATH", str(sink)), "b.yaml")
        assert _run(second, tmp_path / "run_b") == 2
        err = capsys.readouterr().err
        assert "is writing it" in err and "run_a" in err
    finally:
        thread.join(60)
    assert result["r"].ok
    assert len(read_sink(sink)) == 4
    assert {e.meta["seed"] for e in read_sink(sink)} == {1}


def test_overwrite_keeps_another_runs_dataset_and_foreign_temporaries(write_workflow, tmp_path):
    shards = tmp_path / "shards"
    wf_a = write_workflow(_one("sink.webdataset", str(shards)), "a.yaml")
    assert _run(wf_a, tmp_path / "run_a") == 0
    theirs = {p.name: p.read_bytes() for p in shards.iterdir() if p.suffix == ".tar"}
    (shards / "notes.tmp-1").write_bytes(b"a user's file")
    wf_b = write_workflow(
        _one("sink.webdataset", str(shards)).replace("seed: 2", "seed: 3").replace("{path:", "{overwrite: true, path:"),
        "b.yaml",
    )
    assert _run(wf_b, tmp_path / "run_b") == 0
    for name, data in theirs.items():
        assert (shards / name).read_bytes() == data, name  # run A's shards: foreign to run B
    assert (shards / "notes.tmp-1").read_bytes() == b"a user's file"
    record = json.loads((shards / OWNER_FILE).read_text())
    assert record["run"].endswith("run_b") and set(theirs) <= set(record["foreign"])
    # run B's index lists its own 6 episodes only
    assert json.loads((shards / "index.json").read_text())["episodes"] == 6


def test_a_run_taken_over_by_overwrite_stops_and_deletes_nothing(write_workflow, tmp_path):
    """Run B takes the folder over with overwrite while run A writes: A's parts already written
    are foreign to B (kept); A stops at its next batch, naming the takeover."""
    table = tmp_path / "table"
    thread, result = _start_run_a(write_workflow, tmp_path, table)
    try:
        deadline = time.time() + 30
        while not list(table.glob("part-*.parquet")) and time.time() < deadline:
            time.sleep(0.02)
        written_by_a = sorted(p.name for p in table.glob("part-*.parquet"))
        second = SLOW.replace("SEED", "2").replace("{path: PATH}", "{path: PATH, overwrite: true}")
        second = second.replace("{ms: 500}", "{ms: 0}").replace("episodes_per_shard: 1", "episodes_per_shard: 2")
        assert _run(write_workflow(second.replace("PATH", str(table)), "b.yaml"), tmp_path / "run_b") == 0
    finally:
        thread.join(60)
    assert written_by_a and not result["r"].ok and "no longer this run's to write" in result["r"].error
    assert set(written_by_a) <= {p.name for p in table.glob("part-*.parquet")}
    seeds = [e.meta["seed"] for e in read_sink(table)]
    assert seeds.count(2) == 4 and 1 <= seeds.count(1) < 4


class _Killed(BaseException):
    """Stands for a SIGKILL between a sink's finalize and its completion marker."""


KILL_CASES = [(uses, "local") for uses in sorted(SINKS)] + [("sink.lerobot", "ray"), ("audit.report", "ray")]


@pytest.mark.parametrize(("uses", "runner"), KILL_CASES)
def test_a_kill_after_finalize_before_the_completion_marker_resumes(
    uses, runner, request, write_workflow, tmp_path, monkeypatch
):
    if runner == "ray":
        request.getfixturevalue("ray_session")  # the session's Ray: the driver's finalize is what is killed
    out = tmp_path / "out"
    wf = load_workflow(write_workflow(_one(uses, str(out))))
    real = StageDir.mark_complete

    def killed(self, doc):
        if self.stage_id == "out":
            raise _Killed
        return real(self, doc)

    monkeypatch.setattr(StageDir, "mark_complete", killed)
    with pytest.raises(_Killed):
        run_workflow(wf, str(tmp_path / "run"), runner=runner, progress=False)
    first = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".datapipe" not in str(p))
    (out / "meta").mkdir(exist_ok=True)
    (out / "meta" / "info.json.datapipe-tmp-0123abcd").write_bytes(b"{")  # a crashed write's leftover
    monkeypatch.setattr(StageDir, "mark_complete", real)
    again = run_workflow(wf, str(tmp_path / "run"), runner=runner, progress=False)
    assert again.ok, again.error
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".datapipe" not in str(p))
    assert files == first and first
    assert not list(out.rglob("*.datapipe-tmp-*"))
    assert not (out / ".datapipe-staging").exists()
    assert again.counts("out")["in"] == 6

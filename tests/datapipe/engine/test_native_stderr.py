"""Ray's false alarm about actor constructor arguments stays off the console; nothing else does."""

import subprocess
import sys
import textwrap

from tests.conftest import REPO

ALARM = (
    "[2026-12-07 15:24:47,188 E 3813 3813] core_worker.cc:2465: Actor with class name: "
    "'MapWorker(MapBatches(ChainFn))' "
    "and ID: '0ad1' has constructor arguments in the object store and max_restarts > 0. If the arguments ..."
)


def test_the_filter_drops_only_the_alarm_and_keeps_what_a_crash_writes_last():
    code = textwrap.dedent(
        f"""
        import os, sys
        from datapipe.engine.runners.native_stderr import filter_native_stderr
        assert filter_native_stderr()
        print("python line", file=sys.stderr, flush=True)
        os.write(2, b"native line before\\n" + {ALARM!r}.encode() + b"\\n")
        os.write(2, b"last words of a native crash\\n")
        os.abort()
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0  # it aborted
    lines = proc.stderr.splitlines()
    assert lines == ["python line", "native line before", "last words of a native crash"], proc.stderr


def test_an_actor_pool_run_prints_no_core_worker_error(tmp_path):
    (tmp_path / "wf.yaml").write_text(
        textwrap.dedent(
            """
            name: pool
            stages:
              - {id: src, uses: source.synthetic, with: {episodes: 4, episodes_per_shard: 2, seed: 3}}
              - {id: pool, uses: debug.noop, needs: [src], concurrency: 1}
              - {id: out, uses: sink.parquet, needs: [pool], with: {path: out/pool}}
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "datapipe", "run", "wf.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "core_worker.cc" not in proc.stderr, proc.stderr
    assert "pool: 4 in, 4 out, 0 failed" in proc.stderr  # the progress lines still arrive
    assert "out parquet: 4 episodes in 1 file at " in proc.stderr  # and where the sink wrote

"""Engine parallelism: a source of 40 shards -> a stage working X ms per episode -> sink.webdataset,
against plain Ray Data doing the same work and against the ideal (N x one worker's throughput).

Two settings, each with its own Ray: the machine's CPUs with a stage that burns CPU, and 8 logical
CPUs (``ray.init(num_cpus=8)``) with a stage that sleeps (so 8 workers fit on any machine). Plain
Ray Data is ``ray.data.range(n, override_num_blocks=40).map_batches(work, batch_size=5)
.write_parquet(...)``. Targets: at least 0.9 of plain Ray Data and 0.75 of the ideal.
``BENCH_SCALING_MS`` (default 120) and ``BENCH_SCALING_EPISODES`` (default 400) set the size.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
import time
from pathlib import Path

MS = float(os.environ.get("BENCH_SCALING_MS", "120"))
EPISODES = int(os.environ.get("BENCH_SCALING_EPISODES", "400"))
SHARDS = 40


def _datapipe(tmp: Path, uses: str) -> float:
    from datapipe.engine.run import run_workflow
    from datapipe.engine.workflow import load_workflow

    tag = time.time_ns()
    path = tmp / f"scaling-{tag}.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: scaling
        stages:
          - id: src
            uses: source.synthetic
            with: {{episodes: {EPISODES}, episodes_per_shard: {EPISODES // SHARDS}, min_length: 20, max_length: 20}}
          - id: work
            uses: {uses}
            needs: [src]
            with: {{ms: {MS}}}
          - id: out
            uses: sink.webdataset
            needs: [work]
            with: {{path: {tmp}/shards-{tag}, val_fraction: 0}}
        """)
    )
    started = time.perf_counter()
    result = run_workflow(load_workflow(path), out=str(tmp / f"run-{tag}"), progress=False)
    assert result.ok, result.error
    return time.perf_counter() - started


def _plain(tmp: Path, sleep: bool) -> float:
    import ray.data

    from datapipe.stages.debug.burn import burn

    def work(batch: dict) -> dict:
        for _ in range(len(batch["id"])):
            time.sleep(MS / 1000) if sleep else burn(MS)
        return batch

    started = time.perf_counter()
    ray.data.range(EPISODES, override_num_blocks=SHARDS).map_batches(work, batch_size=5).write_parquet(
        str(tmp / f"plain-{time.time_ns()}")
    )
    return time.perf_counter() - started


def _setting(num_cpus: int | None, sleep: bool) -> None:
    import ray
    import ray.data

    ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level="ERROR")
    try:
        cpus = int(ray.cluster_resources()["CPU"])
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            ray.data.DataContext.get_current().enable_progress_bars = False
            _plain(tmp, sleep)  # warm up workers; plain Ray Data runs first, with Ray Data's defaults
            plain = _plain(tmp, sleep)
            ours = _datapipe(tmp, "debug.sleep" if sleep else "debug.burn")
        ideal = EPISODES * MS / 1000 / cpus
        what = "sleeping" if sleep else "burning CPU"
        print(
            f"engine_scaling: {cpus} CPUs, {EPISODES} episodes x {MS:g} ms {what}: datapipe {ours:.1f} s, "
            f"plain ray.data {plain:.1f} s, ideal {ideal:.1f} s; ratio to plain {plain / ours:.2f} "
            f"(target >= 0.90), to ideal {ideal / ours:.2f} (target >= 0.75; plain: {ideal / plain:.2f})",
            flush=True,
        )
    finally:
        ray.shutdown()


def main() -> None:
    _setting(None, sleep=False)
    _setting(8, sleep=True)


if __name__ == "__main__":
    main()

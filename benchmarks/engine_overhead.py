"""Engine overhead: a datapipe workflow against plain Ray Data doing the same work, same run.

Both pipelines generate the same synthetic episodes (``source.synthetic`` shards), pass them
through ``K`` stages that do nothing (``debug.noop``) or sleep 10 ms per episode
(``debug.sleep``), and write parquet. The plain pipeline is what a user would write by hand:
``ray.data.from_items(shards).map_batches(generate)`` then ``K`` block-wise ``map_batches``
then ``write_parquet``, parallel over shards; it has no per-stage commits, quarantine, lineage
or resume. Each pipeline is run once to warm up workers before it is timed.
Each pair is timed ``BENCH_REPEATS`` times, interleaved, and the medians are compared: one run of
the no-op case takes about a second, where a single stray process is visible.
Ratio = datapipe throughput / plain throughput (target >= 0.9).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

import pyarrow as pa

EPISODES = int(os.environ.get("BENCH_EPISODES", "0"))  # 0: 1000 for no-op stages, 400 for 10 ms
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
STAGES = 3
PER_SHARD = 20


def _workflow(tmp: Path, uses: str, params: str, episodes: int) -> Path:
    body = "\n".join(
        f"  - {{id: s{i}, uses: {uses}, needs: [{'src' if i == 0 else f's{i - 1}'}]{params}}}" for i in range(STAGES)
    )
    text = (
        textwrap.dedent(f"""\
        name: bench
        defaults: {{batch_size: 20}}
        stages:
          - {{id: src, uses: source.synthetic, with: {{episodes: {episodes}, episodes_per_shard: {PER_SHARD},
              min_length: 20, max_length: 20}}}}
        """)
        + body
        # a fresh output folder per run: each run directory owns the folder its sink writes
        + f"\n  - {{id: out, uses: sink.parquet, needs: [s{STAGES - 1}], "
        + f"with: {{path: {tmp}/dp_out-{time.time_ns()}}}}}\n"
    )
    path = tmp / f"{uses}.yaml"
    path.write_text(text)
    return path


def _run_datapipe(tmp: Path, uses: str, params: str, episodes: int) -> float:
    from datapipe.engine.run import run_workflow
    from datapipe.engine.workflow import load_workflow

    wf = load_workflow(_workflow(tmp, uses, params, episodes))
    started = time.perf_counter()
    result = run_workflow(wf, out=str(tmp / f"run-{uses}-{time.time_ns()}"), progress=False)
    elapsed = time.perf_counter() - started
    assert result.ok, result.error
    return episodes / elapsed


def _run_plain(tmp: Path, sleep_ms: float, episodes: int) -> float:
    import ray.data

    from datapipe.records.arrow import episodes_to_table
    from datapipe.stages.source.synthetic import SyntheticConfig, SyntheticSource

    source = SyntheticSource(
        SyntheticConfig(episodes=episodes, episodes_per_shard=PER_SHARD, min_length=20, max_length=20)
    )

    def generate(batch: pa.Table) -> pa.Table:
        return episodes_to_table(e for shard in batch.column("shard").to_pylist() for e in source.read(shard))

    def stage(batch: pa.Table) -> pa.Table:
        if sleep_ms:
            time.sleep(sleep_ms / 1000 * batch.num_rows)
        return batch

    started = time.perf_counter()
    shards = source.shards()
    ds = ray.data.from_items([{"shard": s} for s in shards], override_num_blocks=len(shards))
    ds = ds.map_batches(generate, batch_size=1, batch_format="pyarrow")
    for _ in range(STAGES):
        # batch_size=None: one batch per block (one shard of 20 episodes). A fixed batch_size would
        # make Ray Data fuse these with `generate` and bundle all shards into one serial task.
        ds = ds.map_batches(stage, batch_size=None, batch_format="pyarrow")
    ds.write_parquet(str(tmp / f"plain-{time.time_ns()}"))
    return episodes / (time.perf_counter() - started)


def main() -> None:
    from datapipe.engine.runners.ray_cluster import configure_ray_data, init_ray

    started_ray = init_ray()
    configure_ray_data()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _run_plain(tmp, 0, 200)  # warm up workers and imports for both
        _run_datapipe(tmp, "debug.noop", "", 200)
        for label, uses, params, sleep_ms, default_n in (
            ("no-op stages", "debug.noop", "", 0.0, 1000),
            ("10 ms/episode stages", "debug.sleep", ", with: {ms: 10}", 10.0, 400),
        ):
            n = EPISODES or default_n
            plain, ours = [], []
            for _ in range(REPEATS):
                plain.append(_run_plain(tmp, sleep_ms, n))
                ours.append(_run_datapipe(tmp, uses, params, n))
            p, o = statistics.median(plain), statistics.median(ours)
            print(
                f"engine overhead, {n} episodes x {STAGES} {label}: datapipe {o:.1f} ep/s, "
                f"plain ray.data {p:.1f} ep/s (medians of {REPEATS}), ratio {o / p:.2f} (target >= 0.90)",
                flush=True,
            )
    if started_ray:
        import ray

        ray.shutdown()


if __name__ == "__main__":
    main()

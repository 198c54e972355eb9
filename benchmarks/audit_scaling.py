"""Audit throughput and memory: a shard dataset and the same dataset ten times larger.

Each audit runs in its own process (``datapipe.cli.main(["audit", ...])``), which reports its own
peak resident memory (``VmHWM``). Throughput = frames audited per second, cameras decoded
(frozen/black checks and contact sheet included). Target: peak memory does not grow with size.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks.peak_memory import run_with_peak

EPISODES = int(os.environ.get("BENCH_AUDIT_EPISODES", "30"))


def _write(root: Path, copies: int) -> int:
    from datapipe.formats.shards.manifest import build_manifest
    from datapipe.formats.shards.writer import ShardOptions, write_part
    from datapipe.records.synthetic import synthetic_episode
    from datapipe.storage import resolve

    receipts, frames = [], 0
    for c in range(copies):
        eps = [synthetic_episode(c, i, length=60, cameras=("front",), image_size=(64, 64)) for i in range(EPISODES)]
        frames += sum(e.length for e in eps)
        receipts.append(write_part(resolve(root), eps, f"part-{c:016x}", ShardOptions(max_episodes=20, val_fraction=0)))
    build_manifest(resolve(root), receipts, 0.0, "")
    return frames


def _audit(root: Path, out: Path) -> tuple[float, float]:
    code = (
        "from datapipe.cli import main; "
        f"assert main(['audit', {str(root)!r}, '--out', {str(out)!r}, '--no-progress']) == 0"
    )
    _, elapsed, peak = run_with_peak(code)
    return elapsed, peak  # s, MiB


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        small_frames = _write(tmp / "x1", 1)
        large_frames = _write(tmp / "x10", 10)
        t1, m1 = _audit(tmp / "x1", tmp / "a1")
        t10, m10 = _audit(tmp / "x10", tmp / "a10")
        print(
            f"audit: {EPISODES} episodes ({small_frames} frames) {small_frames / t1:.0f} frames/s, peak {m1:.0f} MiB; "
            f"10x ({large_frames} frames) {large_frames / t10:.0f} frames/s, peak {m10:.0f} MiB "
            f"(memory ratio {m10 / m1:.2f}; target: no growth)",
            flush=True,
        )


if __name__ == "__main__":
    main()

"""``python -m benchmarks``: run every benchmark and print one line per result."""

from __future__ import annotations

import argparse

from benchmarks import (
    audit_scaling,
    augmentation,
    community_ingest,
    ego_curation,
    engine_overhead,
    engine_scaling,
    hand_pose,
    sim_generation,
    stream_throughput,
    teleop,
    usefulness,
    video_ingest,
    vla,
    vla_scenes,
)

BENCHMARKS = {
    "engine_overhead": engine_overhead.main,
    "engine_scaling": engine_scaling.main,
    "stream_throughput": stream_throughput.main,
    "sim_generation": sim_generation.main,
    "hand_pose": hand_pose.main,
    "audit": audit_scaling.main,
    "video_ingest": video_ingest.main,
    "community_ingest": community_ingest.main,
    "augmentation": augmentation.main,
    "usefulness": usefulness.main,
    "teleop": teleop.main,
    "ego_curation": ego_curation.main,
    "vla": vla.main,
    "vla_scenes": vla_scenes.main,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="datapipe benchmarks")
    parser.add_argument("names", nargs="*", help=f"subset of {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    for name in args.names or BENCHMARKS:
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()

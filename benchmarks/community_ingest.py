"""Community datasets in: ingestion speed per format, memory against dataset size, and datapipe's
LeRobot v2.1 -> v3.0 path against LeRobot's own converter.

1. Frames/s of datapipe's readers (episodes with cameras encoded, as a source stage yields
   them) on a robomimic HDF5 file, an RLDS folder and a LeRobot v2.1 dataset, against the least
   work that gives the same: the arrays read raw (h5py; the tfrecord package's iterator and
   protobuf parse, PNG decode) and the frames H.264-encoded with the same settings; for LeRobot,
   pyarrow and a PyAV decode of the videos (ratio; 1 = no overhead).
2. Peak resident memory of reading every episode of the robomimic file and of one 10 times
   larger, each in a fresh process (flat: about 1).
3. A LeRobot v2.1 dataset (written by LeRobot 0.3.2) to v3.0: ``source.lerobot`` ->
   ``sink.lerobot`` on the local runner against ``convert_dataset_v21_to_v30`` of LeRobot 0.4.4,
   wall time and peak memory, each in a fresh process (needs ``make lerobot-venv``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.peak_memory import run_with_peak
from datapipe.records.video import encode_mp4

REPO = Path(__file__).resolve().parents[1]
DEMOS = int(os.environ.get("BENCH_COMMUNITY_DEMOS", "20"))
LENGTH = 100  # steps per demo
IMAGE = (84, 84)  # robomimic's usual agentview size
LEROBOT_PY = REPO / ".venv-lerobot" / "bin" / "python"


def _frames_per_s(frames: int, seconds: float) -> float:
    return frames / max(seconds, 1e-9)


def _hdf5(tmp: Path) -> None:
    import h5py

    from datapipe.formats.hdf5 import Hdf5Demos
    from tests.community_fixtures import write_robomimic

    path = tmp / "lift.hdf5"
    write_robomimic(path, lengths=(LENGTH,) * DEMOS, image=IMAGE)
    started = time.perf_counter()
    with h5py.File(path, "r") as f:
        for demo in f["data"]:
            g = f["data"][demo]
            _ = [g["obs"][k][()] for k in g["obs"]], g["actions"][()]
            encode_mp4(g["obs"]["agentview_image"][()], 20.0, crf=18)
    raw = time.perf_counter() - started
    demos = Hdf5Demos(str(path))
    started = time.perf_counter()
    for key in demos.keys():
        demos.read(key)
    ours = time.perf_counter() - started
    n = DEMOS * LENGTH
    print(
        f"community ingest, robomimic HDF5 ({DEMOS} demos x {LENGTH} steps, {IMAGE[0]}x{IMAGE[1]} camera): datapipe "
        f"{_frames_per_s(n, ours):.0f} frames/s (H.264-encoded episodes), "
        f"h5py read + encode {_frames_per_s(n, raw):.0f} "
        f"frames/s: ratio {raw / ours:.2f}",
        flush=True,
    )
    big = tmp / "lift_x10.hdf5"
    write_robomimic(big, lengths=(LENGTH,) * (DEMOS * 10), image=IMAGE)
    code = (
        "from datapipe.formats.hdf5 import Hdf5Demos\n"
        "d = Hdf5Demos({path!r})\n"
        "n = sum(d.read(k).length for k in d.keys())\n"
        "print('FRAMES', n)"
    )
    _, _, small_mib = run_with_peak(code.format(path=str(path)))
    _, _, big_mib = run_with_peak(code.format(path=str(big)))
    print(
        f"community ingest peak memory: {DEMOS} demos {small_mib:.0f} MiB, {DEMOS * 10} demos {big_mib:.0f} MiB: "
        f"ratio {big_mib / small_mib:.2f} (flat: about 1)",
        flush=True,
    )


def _rlds(tmp: Path) -> None:
    from tfrecord import example_pb2
    from tfrecord.reader import tfrecord_iterator

    from datapipe.formats.rlds import RldsDataset
    from tests.community_fixtures import write_rlds

    folder = tmp / "rlds"
    write_rlds(folder, lengths=(LENGTH,) * DEMOS, image=IMAGE)
    file = next(folder.glob("*.tfrecord*"))
    import cv2

    started = time.perf_counter()
    for record in tfrecord_iterator(str(file)):
        example = example_pb2.Example()
        example.ParseFromString(bytes(record))
        images = example.features.feature["steps/observation/image"].bytes_list.value
        frames = np.stack([cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in images])
        encode_mp4(frames, 10.0, crf=18)
    raw = time.perf_counter() - started
    ds = RldsDataset(str(folder))
    started = time.perf_counter()
    n = sum(ep.length for _, ep in ds.episodes(file))
    ours = time.perf_counter() - started
    print(
        f"community ingest, RLDS ({DEMOS} episodes x {LENGTH} steps, PNG {IMAGE[0]}x{IMAGE[1]}): datapipe "
        f"{_frames_per_s(n, ours):.0f} frames/s (H.264-encoded episodes), record parse, PNG decode + encode "
        f"{_frames_per_s(n, raw):.0f} frames/s: ratio {raw / ours:.2f}",
        flush=True,
    )


def _lerobot(tmp: Path) -> None:
    if not LEROBOT_PY.exists():
        print("community ingest, LeRobot: skipped (no .venv-lerobot: make lerobot-venv)", flush=True)
        return
    root = tmp / "local" / "v21"
    spec = {"fps": 30, "lengths": [LENGTH] * DEMOS, "tasks": ["pick the cube"], "cameras": {"top": list(IMAGE)}}
    env = {**os.environ, "PYTHONPATH": str(REPO / ".lerobot-v21")}
    writer = REPO / "tests" / "lerobot_venv" / "write_fixture.py"
    subprocess.run(
        [str(LEROBOT_PY), str(writer), str(root), json.dumps(spec), str(tmp / "v21.npz")],
        check=True,
        capture_output=True,
        env=env,
    )
    from datapipe.formats.lerobot.reader import LeRobotReader

    reader = LeRobotReader(str(root))
    started = time.perf_counter()
    n = sum(reader.read_episode(i).length for i in reader.episode_indices())
    ours = time.perf_counter() - started
    import av
    import pyarrow.parquet as pq

    started = time.perf_counter()
    for f in sorted(root.glob("data/**/*.parquet")):
        pq.read_table(f)
    for f in sorted(root.glob("videos/**/*.mp4")):
        with av.open(str(f)) as c:
            for _ in c.decode(video=0):
                pass
    raw = time.perf_counter() - started
    print(
        f"community ingest, LeRobot v2.1 ({DEMOS} episodes x {LENGTH} steps): datapipe {_frames_per_s(n, ours):.0f} "
        f"frames/s, raw pyarrow + PyAV decode {_frames_per_s(n, raw):.0f} frames/s: ratio {raw / ours:.2f}",
        flush=True,
    )
    _convert(root, tmp)


def _convert(root: Path, tmp: Path) -> None:
    out = str(tmp / "ours_v30")
    ours_code = (
        "from datapipe.engine.run import run_workflow\n"
        "from datapipe.engine.workflow import parse_workflow\n"
        "doc = {'name': 'convert', 'stages': [\n"
        f" {{'id': 'src', 'uses': 'source.lerobot', 'with': {{'path': {str(root)!r}, 'verify_videos': False}}}},\n"
        f" {{'id': 'out', 'uses': 'sink.lerobot', 'needs': ['src'], 'with': {{'path': {out!r}}}}}]}}\n"
        f"r = run_workflow(parse_workflow(doc, 'c.yaml'), out={str(tmp / 'run')!r}, runner='local', progress=False)\n"
        "assert r.ok, r.error"
    )
    _, ours_s, ours_mib = run_with_peak(ours_code)
    theirs_code = (
        "from lerobot.datasets.v30.convert_dataset_v21_to_v30 import convert_dataset\n"
        f"convert_dataset('local/v21', root={str(tmp)!r}, push_to_hub=False, force_conversion=True)\n"
        "print('PEAK', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    started = time.perf_counter()
    proc = subprocess.run([str(LEROBOT_PY), "-c", theirs_code], capture_output=True, text=True)
    theirs_s = time.perf_counter() - started
    if proc.returncode != 0:
        print(f"LeRobot v2.1 -> v3.0: LeRobot's converter failed: {proc.stderr[-400:]}", flush=True)
        return
    theirs_mib = int(next(x for x in proc.stdout.splitlines() if x.startswith("PEAK")).split()[1]) / 1024
    print(
        f"LeRobot v2.1 -> v3.0 ({DEMOS} episodes): datapipe (source.lerobot -> sink.lerobot, local runner) "
        f"{ours_s:.1f} s, {ours_mib:.0f} MiB peak; LeRobot's convert_dataset_v21_to_v30 {theirs_s:.1f} s, "
        f"{theirs_mib:.0f} MiB peak: time ratio {theirs_s / ours_s:.2f}, memory ratio {theirs_mib / ours_mib:.2f} "
        "(above 1: datapipe is faster / smaller)",
        flush=True,
    )


def main() -> None:
    sys.path.insert(0, str(REPO))  # the fixture writers live with the tests
    with tempfile.TemporaryDirectory() as tmp:
        _hdf5(Path(tmp))
        _rlds(Path(tmp))
        _lerobot(Path(tmp))


if __name__ == "__main__":
    main()

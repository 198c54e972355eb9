"""A contact sheet of the simulated tasks: one row per task, frames across one successful episode,
each as a front view beside the wrist view.

    python -m datapipe.generators.tools.contact_sheet docs/sim_tasks.png [--robot franka_emika_panda] [--size 160]

The README shows the sheet this command writes (Menagerie's Panda, 160x160 per view).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.robots.registry import DEFAULT_ROBOT, resolve_robot
from datapipe.generators.tasks import task_names

MOMENTS = (0.0, 0.35, 0.55, 1.0)  # where in each episode the shown frames are, as a fraction


def task_row(task: str, robot: str, size: int, seed: int = 0) -> np.ndarray:
    """``(size, 2 * size * len(MOMENTS), 3)`` uint8: front and wrist views at :data:`MOMENTS` of the
    first successful episode from ``seed`` on."""
    gen = SimGenerator(
        SimSettings(task=task, cameras=("front", "wrist"), image_size=(size, size)), resolve_robot(robot)
    )
    run = next(r for r in (gen.simulate(s) for s in range(seed, seed + 20)) if r.success)
    a = run.recording.arrays()
    steps = [round(m * (len(a["qpos"]) - 1)) for m in MOMENTS]
    frames = gen.render(run.params, a["qpos"][steps], a["qvel"][steps])
    front, wrist = frames["front"], frames[gen.camera_name("wrist")]
    return np.concatenate([np.concatenate([front[i], wrist[i]], axis=1) for i in range(len(steps))], axis=1)


def contact_sheet(robot: str = DEFAULT_ROBOT, size: int = 160) -> np.ndarray:
    """The sheet as an RGB image, a label above each task's row."""
    import cv2

    rows = []
    for task in task_names():
        row = task_row(task, robot, size)
        label = np.full((28, row.shape[1], 3), 255, dtype=np.uint8)
        text = f"{task}  ({robot}; front | wrist at {', '.join(f'{m:.0%}' for m in MOMENTS)} of the episode)"
        cv2.putText(label, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        rows += [label, row]
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> None:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--robot", default=DEFAULT_ROBOT, help="built-in robot or robot config YAML")
    parser.add_argument("--size", type=int, default=160, help="pixels per view (square)")
    args = parser.parse_args(argv)
    sheet = contact_sheet(args.robot, args.size)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(args.out, sheet[:, :, ::-1]):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
    main()

"""Before and after frames of the augmentations, as one image for the README.

    python -m datapipe.generators.tools.augment_gallery docs/augment_gallery.png [--size 160]

One simulated pick_place episode (front camera) at three moments: as rendered, a new camera
view with new visuals (augment.sim_views), that view with its background replaced from its
segmentation (augment.background), and photometric augmentation with OpenVLA's ranges
(augment.photometric). The same library functions the stages call.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from datapipe.augment.backgrounds import SEGMENT_CLASSES, composite, procedural
from datapipe.augment.photometric import PRESETS, apply, sample_params
from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.views import ViewRanges, sample_view

MOMENTS = (0.0, 0.45, 1.0)


def gallery(size: int = 160, seed: int = 0) -> np.ndarray:
    import cv2

    gen = SimGenerator(SimSettings(task="pick_place", cameras=("front",), image_size=(size, size)))
    run = next(r for r in (gen.simulate(s) for s in range(seed, seed + 20)) if r.success)
    a = run.recording.arrays()
    steps = [round(m * (len(a["qpos"]) - 1)) for m in MOMENTS]
    qpos, qvel = a["qpos"][steps], a["qvel"][steps]
    rng = np.random.default_rng(seed)
    original = gen.render(run.params, qpos, qvel)["front"]
    view = sample_view(rng, run.params, ViewRanges(camera_pos=0.12, camera_lookat=0.05, camera_fovy=8))
    new_view = gen.render(view, qpos, qvel)["front"]
    classes = gen.segment(view, qpos)["front"]
    mask = np.isin(classes, [SEGMENT_CLASSES["background"], SEGMENT_CLASSES["table"]])
    swapped = composite(new_view, mask, procedural(rng, size, size, "noise"))
    photometric = apply(new_view, sample_params(rng, PRESETS["openvla"]))
    rows = [
        ("original", original),
        ("augment.sim_views: new camera, textures, lights", new_view),
        ("augment.background: table and background replaced", swapped),
        ("augment.photometric: OpenVLA ranges", photometric),
    ]
    out = []
    for label, frames in rows:
        bar = np.full((24, size * len(steps), 3), 255, dtype=np.uint8)
        cv2.putText(bar, label, (5, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        out += [bar, np.concatenate(list(frames), axis=1)]
    return np.concatenate(out, axis=0)


def main(argv: list[str] | None = None) -> None:
    import cv2

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="PNG file to write")
    parser.add_argument("--size", type=int, default=160, help="pixels per frame (square)")
    args = parser.parse_args(argv)
    image = gallery(args.size)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(args.out, image[:, :, ::-1]):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")


if __name__ == "__main__":
    main()

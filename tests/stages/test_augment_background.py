"""augment.background: sim masks, a chroma key and MediaPipe's person segmentation; robot and
object pixels stay as they were, one background per episode across its frames."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe.augment.backgrounds import chroma_mask, composite, procedural
from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.views import SEGMENT_CLASSES
from datapipe.records import CameraStream
from datapipe.records.synthetic import synthetic_episode
from datapipe.stages.augment.background import Background, BackgroundConfig
from datapipe.stages.augment.sim_views import SimViews, SimViewsConfig
from tests.conftest import SHARED_MEDIA


def _stage(cls, config):
    stage = cls(config)
    stage.setup()
    return stage


def test_composite_changes_only_masked_pixels():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 8, 10, 3), dtype=np.uint8)
    mask = rng.random((3, 8, 10)) < 0.5
    bg = procedural(rng, 8, 10, "checker")
    out = composite(frames, mask, bg)
    assert np.array_equal(out[~mask], frames[~mask])
    assert np.array_equal(out[mask], np.broadcast_to(bg, frames.shape)[mask])


def test_sim_masks_replace_the_background_and_keep_robot_and_objects():
    gen = SimGenerator(SimSettings(task="pick_place", cameras=("front",), image_size=(64, 64)))
    run = next(r for r in (gen.simulate(s) for s in range(5)) if r.success)
    views = _stage(
        SimViews,
        SimViewsConfig(views=1, visuals=False, camera_pos=0, camera_lookat=0, camera_fovy=0, segmentation=True),
    )
    masked = list(views.process(gen.episode(run)))[1]
    stage = _stage(Background, BackgroundConfig(replace=("background", "table"), variants=2, keep_original=False))
    a, b = list(stage.process(masked))
    before = masked.cameras["front"].frames().astype(int)
    classes = masked.steps["segmentation.front"]
    kept = np.isin(classes, [SEGMENT_CLASSES["robot"], SEGMENT_CLASSES["object"]])
    import cv2

    # away from the edges, where H.264 mixes old and new pixels within a block
    interior = np.stack([cv2.erode(k.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0 for k in kept])
    assert interior.sum() > 500
    for out in (a, b):
        after = out.cameras["front"].frames().astype(int)
        assert np.abs(after - before)[interior].mean() < 4  # H.264 noise only
        assert np.abs(after - before)[~kept].mean() > 10  # a new background
        assert out.meta["augmentation"]["parent"] == masked.episode_id
        assert np.array_equal(out.steps["action"], masked.steps["action"])
    assert a.meta["augmentation"]["params"]["cameras"] != b.meta["augmentation"]["params"]["cameras"]


def test_chroma_key_replaces_the_green_screen_only():
    frames = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    frames[..., 1] = 200  # green screen
    frames[:, 10:20, 10:20] = [200, 30, 30]  # a red object
    assert chroma_mask(frames)[:, 10:20, 10:20].sum() == 0 and chroma_mask(frames).mean() > 0.85
    ep = synthetic_episode(0, 0, length=4).replace(
        cameras={"front": CameraStream.from_frames(frames, 10.0, "jpeg", 95)}
    )
    (out,) = _stage(Background, BackgroundConfig(mask="chroma", keep_original=False)).process(ep)
    after = out.cameras["front"].frames().astype(int)
    assert np.abs(after[:, 12:18, 12:18] - frames[:, 12:18, 12:18]).mean() < 6
    assert out.meta["augmentation"]["params"]["cameras"]["front"]["replaced_fraction"] > 0.8
    # one background for the whole episode: the replaced area looks the same in every frame
    assert np.abs(after[0, :5, :5] - after[-1, :5, :5]).mean() < 6


def test_person_segmentation_keeps_the_person():
    video = SHARED_MEDIA / "hand_webcam_720p.mp4"
    if not video.exists():
        pytest.skip(f"{video} absent")
    import av
    import cv2

    frames = []
    with av.open(str(video)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % 30 == 0:
                frames.append(cv2.resize(f.to_ndarray(format="rgb24"), (256, 144)))
            if len(frames) == 4:
                break
    frames = np.stack(frames)
    ep = synthetic_episode(0, 0, length=4).replace(cameras={"ego": CameraStream.from_frames(frames, 10.0)})
    stage = _stage(Background, BackgroundConfig(mask="person", keep_original=False))
    mask = stage.person.background(ep.cameras["ego"].frames())
    assert 0.05 < mask.mean() < 0.95  # some person, some background
    (out,) = stage.process(ep)
    after, before = out.cameras["ego"].frames().astype(int), ep.cameras["ego"].frames().astype(int)
    assert np.abs(after - before)[~mask].mean() < 6


def test_backgrounds_from_a_folder_of_images(tmp_path):
    import cv2

    folder = tmp_path / "backgrounds"
    folder.mkdir()
    for i, colour in enumerate(([255, 0, 0], [0, 0, 255])):
        cv2.imwrite(str(folder / f"bg{i}.png"), np.full((50, 90, 3), colour[::-1], dtype=np.uint8))
    frames = np.zeros((3, 24, 32, 3), dtype=np.uint8)
    frames[..., 1] = 200
    frames[:, 4:20, 8:24] = [90, 90, 90]
    ep = synthetic_episode(0, 0, length=3).replace(
        cameras={"front": CameraStream.from_frames(frames, 10.0, "jpeg", 100)}
    )
    stage = _stage(Background, BackgroundConfig(mask="chroma", images=str(folder), variants=4, keep_original=False))
    outs = list(stage.process(ep))
    chosen = {o.meta["augmentation"]["params"]["cameras"]["front"]["image"] for o in outs}
    assert chosen <= {"bg0.png", "bg1.png"} and chosen
    for o in outs:
        colour = (
            [255, 0, 0] if o.meta["augmentation"]["params"]["cameras"]["front"]["image"] == "bg0.png" else [0, 0, 255]
        )
        after = o.cameras["front"].frames().astype(int)
        assert np.abs(after[:, :4, :4] - colour).mean() < 8  # the image, where the screen was
        assert np.abs(after[:, 8:16, 12:20] - 90).mean() < 8  # the object kept (away from JPEG chroma bleed)

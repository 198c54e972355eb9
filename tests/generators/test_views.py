"""augment.sim_views: exact re-renders (PSNR against the stored frames), masks that match the
rendered geometry, and new views that keep the parent's actions and say what changed."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.views import SEGMENT_CLASSES, classes_of, geom_classes
from datapipe.stages.augment.sim_views import SimViews, SimViewsConfig


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(255**2 / max(mse, 1e-12))


@pytest.fixture(scope="module")
def episode():
    gen = SimGenerator(SimSettings(task="pick_place", cameras=("front", "wrist"), image_size=(64, 64)))
    run = next(r for r in (gen.simulate(s) for s in range(5)) if r.success)
    return gen.episode(run)


def _stage(**kw) -> SimViews:
    stage = SimViews(SimViewsConfig(**kw))
    stage.setup()
    return stage


def test_the_original_view_renders_again_exactly(episode):
    stage = _stage(views=1, camera_pos=0, camera_lookat=0, camera_fovy=0, visuals=False, keep_original=False)
    (again,) = stage.process(episode)
    for name in ("front", "wrist"):
        original = episode.cameras[name].frames()
        assert psnr(again.cameras[name].frames(), original) >= 35.0, name


def test_new_views_keep_the_actions_and_record_the_change(episode):
    stage = _stage(views=2, seed=3)
    out = list(stage.process(episode))
    assert out[0] is episode and len(out) == 3
    for i, view in enumerate(out[1:]):
        assert view.episode_id != episode.episode_id and view.source.kind == "augmented"
        assert np.array_equal(view.steps["action"], episode.steps["action"])
        rec = view.meta["augmentation"]
        assert rec["parent"] == episode.episode_id and rec["stage"] == "augment.sim_views" and rec["index"] == i
        assert set(rec["params"]["view"]) >= {"cameras", "table", "lights"}
        assert view.meta["randomization"]["cameras"] == rec["params"]["view"]["cameras"]
        assert psnr(view.cameras["front"].frames(), episode.cameras["front"].frames()) < 30  # a new view
    assert out[1].episode_id != out[2].episode_id
    assert [v.episode_id for v in _stage(views=2, seed=3).process(episode)][1:] == [v.episode_id for v in out[1:]]


def test_segmentation_masks_match_the_rendered_geometry(episode):
    stage = _stage(views=1, camera_pos=0, camera_lookat=0, camera_fovy=0, visuals=False, segmentation=True)
    view = list(stage.process(episode))[1]
    masks = view.steps["segmentation.front"]
    assert masks.shape == (episode.length, 64, 64) and masks.dtype == np.uint8
    present = set(np.unique(masks).tolist())
    assert {SEGMENT_CLASSES[c] for c in ("background", "table", "robot", "object")} <= present
    # hide the robot: the pixels that change are the robot's
    gen = next(iter(stage.generators.values()))
    model = gen.template().model
    a = episode.steps
    params = episode.meta["randomization"]
    t = [0, episode.length // 2]
    shown = gen.render(params, np.asarray(a["sim.qpos"])[t], np.asarray(a["sim.qvel"])[t])["front"]
    robot = geom_classes(model, gen.task.objects(params)) == SEGMENT_CLASSES["robot"]
    saved = model.geom_rgba[robot, 3].copy()
    model.geom_rgba[robot, 3] = 0.0
    hidden = gen._renderer.render(np.asarray(a["sim.qpos"])[t], np.asarray(a["sim.qvel"])[t], ["front"])["front"]
    model.geom_rgba[robot, 3] = saved
    changed = np.abs(shown.astype(int) - hidden.astype(int)).max(-1) > 8
    is_robot = masks[t] == SEGMENT_CLASSES["robot"]
    assert changed.sum() > 20
    assert (changed & is_robot).sum() / changed.sum() > 0.9  # what changed is robot
    assert classes_of(np.array([-1, 0]), np.array([4], np.uint8)).tolist() == [0, 4]

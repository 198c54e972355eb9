"""Resampling an episode to another rate (datapipe.records.resample): nearest steps, timestamps
at k / fps, cameras with the same frames, and the original rate recorded."""

import numpy as np

from datapipe.records.resample import resample
from datapipe.records.synthetic import synthetic_episode


def test_halving_the_rate_keeps_every_other_step_and_frame():
    ep = synthetic_episode(0, 0, length=20, cameras=("front",), image_size=(16, 16))
    out = resample(ep, ep.fps / 2)
    assert out.length == 10 and out.fps == ep.fps / 2
    np.testing.assert_array_equal(out.steps["action"], ep.steps["action"][::2])
    np.testing.assert_allclose(out.steps["timestamp"], np.arange(10) / out.fps)
    assert out.cameras["front"].frames().shape[0] == 10
    assert out.meta["resampled_from_fps"] == ep.fps


def test_doubling_the_rate_repeats_the_nearest_step_and_the_same_rate_is_untouched():
    ep = synthetic_episode(0, 1, length=7)
    up = resample(ep, ep.fps * 2)
    assert up.length == 14
    idx = np.clip(np.round(np.arange(14) / 2).astype(int), 0, 6)
    np.testing.assert_array_equal(up.steps["observation.state"], ep.steps["observation.state"][idx])
    assert resample(ep, ep.fps) is ep


def test_a_one_step_episode_stays_one_step():
    ep = synthetic_episode(0, 2, length=1)
    assert resample(ep, ep.fps / 3).length == 1

"""Level-of-detail meshes: reduced once and cached, and reduced renders look like full ones at
the resolution they are chosen for."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.lod import cache_dir, decimate, lod_reduction
from datapipe.generators.robots.menagerie import gym_hil_assets

pytestmark = pytest.mark.skipif(gym_hil_assets() is None, reason="gym-hil (Menagerie's Panda meshes) not installed")


@pytest.mark.parametrize("size", [(128, 128), (256, 320)])
def test_reduced_meshes_render_like_full_ones_at_their_resolution(size):
    full = SimGenerator(SimSettings(task="pick_place", image_size=size, mesh_detail="full"))
    reduced = SimGenerator(SimSettings(task="pick_place", image_size=size, mesh_detail="reduced"))
    assert reduced.settings.lod_reduction() == lod_reduction(size) > 0
    run = full.simulate(3)
    a = run.recording.arrays()
    states = slice(0, len(a["qpos"]), 25)  # poses across the episode
    fa = full.render(run.params, a["qpos"][states], a["qvel"][states])
    fb = reduced.render(run.params, a["qpos"][states], a["qvel"][states])
    for camera in fa:
        diff = np.abs(fa[camera].astype(np.float64) - fb[camera].astype(np.float64))
        mse = float((diff**2).mean())
        psnr = 10 * np.log10(255**2 / max(mse, 1e-12))
        assert diff.mean() < 1.0 and psnr > 30, (camera, size, diff.mean(), psnr)
        assert fa[camera].std() > 10  # the frames show something


def test_decimation_is_cached_on_disk_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    rng = np.random.default_rng(0)
    # a sphere-ish closed surface: a subdivided octahedron pushed onto the unit sphere
    import fast_simplification  # noqa: F401

    u, v = np.meshgrid(np.linspace(0, np.pi, 40), np.linspace(0, 2 * np.pi, 80), indexing="ij")
    pts = np.stack([np.sin(u) * np.cos(v), np.sin(u) * np.sin(v), np.cos(u)], -1).reshape(-1, 3).astype(np.float32)
    idx = np.arange(40 * 80).reshape(40, 80)
    quads = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], -1).reshape(-1, 4)
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]).astype(np.int32)
    pts = pts + rng.normal(0, 1e-4, pts.shape).astype(np.float32)
    v1, f1 = decimate(pts, faces, 0.9)
    assert len(f1) < 0.2 * len(faces) and np.abs(np.linalg.norm(v1, axis=1) - 1).max() < 0.1
    files = list(cache_dir().glob("*.npz"))
    assert len(files) == 1 and str(files[0]).startswith(str(tmp_path))
    v2, f2 = decimate(pts, faces, 0.9)
    assert np.array_equal(f1, f2) and np.array_equal(v1, v2)

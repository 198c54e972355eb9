"""augment.photometric (kornia): exact identity, per-episode consistent parameters recorded in
meta, and the stream's on-the-fly presets, seeded and resumable."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe.augment.photometric import PRESETS, apply, sample_params
from datapipe.config import ConfigError
from datapipe.formats.shards.manifest import build_manifest
from datapipe.formats.shards.writer import ShardOptions, write_part
from datapipe.stages.augment.photometric import Photometric, PhotometricConfig
from datapipe.storage import resolve
from datapipe.training.stream import ShardStream
from tests.helpers import expected_synthetic

IDENTITY = {
    "brightness": 0.0,
    "contrast": 1.0,
    "saturation": 1.0,
    "hue": 0.0,
    "blur_sigma": 0.0,
    "crop_top": 0.0,
    "crop_left": 0.0,
    "crop_height": 1.0,
    "crop_width": 1.0,
}


def test_apply_identity_and_known_changes():
    rng = np.random.default_rng(0)
    frames = rng.integers(20, 235, (3, 32, 40, 3), dtype=np.uint8)
    assert np.array_equal(apply(frames, IDENTITY), frames)
    brighter = apply(frames, {**IDENTITY, "brightness": 0.1})
    assert abs(float(brighter.astype(int).mean() - frames.astype(int).mean()) - 25.5) < 1.5
    cropped = apply(frames, {**IDENTITY, "crop_height": 0.5, "crop_width": 0.5})
    assert cropped.shape == frames.shape and not np.array_equal(cropped, frames)
    same = np.repeat(frames[:1], 2, axis=0)  # equal frames stay equal: one parameter set per call
    out = apply(same, sample_params(rng, PRESETS["openvla"]))
    assert np.array_equal(out[0], out[1])


def test_stage_makes_consistent_recorded_variants():
    ep = expected_synthetic(1, seed=3, min_length=6, max_length=6, cameras=("front",), image_size=(32, 32))[0]
    stage = Photometric(PhotometricConfig(preset="openvla", variants=2, keep_original=False))
    a, b = stage.process(ep)
    for out in (a, b):
        assert out.source.kind == "augmented" and out.meta["augmentation"]["params"]["preset"] == "openvla"
        assert np.array_equal(out.steps["action"], ep.steps["action"])
        assert set(out.meta["augmentation"]["params"]["cameras"]["front"]) >= {"brightness", "crop_top"}
    assert a.meta["augmentation"]["params"] != b.meta["augmentation"]["params"]
    again = list(Photometric(PhotometricConfig(preset="openvla", variants=2, keep_original=False)).process(ep))
    assert [e.meta["augmentation"] for e in again] == [a.meta["augmentation"], b.meta["augmentation"]]


def test_stream_augments_on_the_fly_seeded_and_resumable(tmp_path):
    eps = expected_synthetic(3, seed=4, min_length=6, max_length=8, cameras=("front",), image_size=(32, 32))
    receipt = write_part(resolve(tmp_path), eps, "part-000000000000000a", ShardOptions(val_fraction=0.0))
    build_manifest(resolve(tmp_path), [receipt], 0.0, "")

    def frames(stream, n=None):
        out = []
        for s in stream:
            out.append(s["observation.images.front"])
            if n is not None and len(out) == n:
                break
        return out

    plain = frames(ShardStream(str(tmp_path), seed=1))
    aug = frames(ShardStream(str(tmp_path), seed=1, augment="octo"))
    assert len(aug) == len(plain) and any(not np.array_equal(x, y) for x, y in zip(aug, plain))
    assert all(np.array_equal(x, y) for x, y in zip(aug, frames(ShardStream(str(tmp_path), seed=1, augment="octo"))))
    first = ShardStream(str(tmp_path), seed=1, augment="octo")
    head = frames(first, 5)
    second = ShardStream(str(tmp_path), seed=1, augment="octo")
    second.load_state_dict(first.state_dict())
    rest = frames(second)
    assert all(np.array_equal(x, y) for x, y in zip(head + rest, aug))
    with pytest.raises(ConfigError, match="augment"):
        ShardStream(str(tmp_path), augment="strong")

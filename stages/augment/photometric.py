"""``augment.photometric``: colour, brightness, contrast, blur and crop per episode (kornia; see
:mod:`datapipe.augment.photometric`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from datapipe.augment.derived import augmented
from datapipe.augment.photometric import PRESETS, apply, ranges_of, sample_params
from datapipe.config import check
from datapipe.engine.stage import Resources, Transform
from datapipe.records import CameraStream, Episode


@dataclass(frozen=True)
class PhotometricConfig:
    # parameter ranges: openvla, octo or light (see datapipe/augment/photometric.py)
    preset: str = "octo"
    # new episodes per input
    variants: int = 1
    # pass the input episode on as well
    keep_original: bool = True
    # seed of the parameters drawn (with each episode's id and the variant index)
    seed: int = 0

    def __post_init__(self) -> None:
        check(self.preset in PRESETS, "preset", f"must be one of {sorted(PRESETS)}, got {self.preset!r}")
        check(0 <= self.variants <= 1000, "variants", f"must be within 0..1000, got {self.variants}")


class Photometric(Transform):
    """Photometric augmentation with parameters drawn once per episode and camera (seeded,
    recorded in meta.augmentation), so every frame of an episode changes alike."""

    name = "augment.photometric"
    version = "1"
    Config = PhotometricConfig
    resources = Resources(cpus=1)

    def process(self, episode: Episode) -> Iterable[Episode]:
        c = self.config
        if c.keep_original:
            yield episode
        if not episode.cameras:
            return
        ranges = ranges_of(c.preset)
        key = uuid.UUID(episode.episode_id).int % 2**63
        frames = {n: cam.frames() for n, cam in episode.cameras.items()}
        for i in range(c.variants):
            rng = np.random.default_rng([c.seed, key, i])
            params = {n: sample_params(rng, ranges) for n in sorted(frames)}
            cameras = {
                n: CameraStream.from_frames(apply(frames[n], params[n]), episode.fps, episode.cameras[n].encoding, 95)
                for n in frames
            }
            record = {"preset": c.preset, "seed": c.seed, "cameras": params}
            yield augmented(episode, self.name, self.version, i, record, cameras=cameras)

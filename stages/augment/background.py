"""``augment.background``: GreenAug-style background replacement from masks (see
:mod:`datapipe.augment.backgrounds`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from datapipe.augment.backgrounds import (
    TEXTURES,
    PersonSegmenter,
    composite,
    episode_mask,
    folder_images,
    image_background,
    procedural,
)
from datapipe.augment.derived import augmented
from datapipe.augment.masked import masked_variants, recoded
from datapipe.config import check
from datapipe.engine.stage import Resources, Transform
from datapipe.records import Episode


@dataclass(frozen=True)
class BackgroundConfig:
    # where the masks come from: segmentation (sim masks: segmentation.<camera> arrays), chroma
    # (a colour key), person (MediaPipe selfie segmentation, for human video)
    mask: Literal["segmentation", "chroma", "person"] = "segmentation"
    # segmentation classes replaced: background, table, distractor (robot and object never)
    replace: tuple[str, ...] = ("background",)
    # chroma key hue, degrees (green 120, blue 240)
    key_hue: float = 120.0
    # chroma key: hues within this many degrees of key_hue are the screen
    hue_tolerance: float = 30.0
    # a folder of background images (empty: procedural textures)
    images: str = ""
    # procedural textures to draw from
    textures: tuple[str, ...] = TEXTURES
    # new episodes per input
    variants: int = 1
    # cameras to change (empty: every camera with a mask)
    cameras: tuple[str, ...] = ()
    # pass the input episode on as well
    keep_original: bool = True
    # seed of the backgrounds drawn (with each episode's id and the variant index)
    seed: int = 0

    def __post_init__(self) -> None:
        check(0 <= self.variants <= 1000, "variants", f"must be within 0..1000, got {self.variants}")
        bad = sorted(set(self.replace) - {"background", "table", "distractor"})
        check(not bad, "replace", f"classes {bad} cannot be replaced (background, table, distractor)")
        check(not self.images or Path(self.images).is_dir(), "images", f"folder {self.images} not found")
        unknown = sorted(set(self.textures) - set(TEXTURES))
        check(not unknown, "textures", f"unknown textures {unknown} (known: {list(TEXTURES)})")


class Background(Transform):
    """Replace the background of every frame (one new background per episode, stable across its
    frames) where sim segmentation, a chroma key or MediaPipe's person segmentation says so;
    robot and object pixels are left exactly as they were."""

    name = "augment.background"
    version = "1"
    Config = BackgroundConfig
    input_fields = ("images",)
    resources = Resources(cpus=1)

    def setup(self) -> None:
        self.images = folder_images(self.config.images) if self.config.images else []
        self.person = PersonSegmenter() if self.config.mask == "person" else None

    def _mask(self, ep: Episode, camera: str, frames: np.ndarray) -> np.ndarray | None:
        c = self.config
        return episode_mask(ep, camera, frames, c.mask, tuple(c.replace), c.key_hue, c.hue_tolerance, self.person)

    def process(self, episode: Episode) -> Iterable[Episode]:
        c = self.config
        if c.keep_original:
            yield episode
        for i, rng, views in masked_variants(episode, c.cameras, self._mask, c.variants, c.seed):
            cameras, chosen = dict(episode.cameras), {}
            for name, (frames, mask) in views.items():
                h, w = frames.shape[1:3]
                if self.images:
                    path = self.images[int(rng.integers(len(self.images)))]
                    bg, chosen[name] = image_background(path, h, w), {"image": path.name}
                else:
                    kind = c.textures[int(rng.integers(len(c.textures)))]
                    texture_seed = int(rng.integers(2**31))
                    bg = procedural(np.random.default_rng(texture_seed), h, w, kind)
                    chosen[name] = {"texture": kind, "texture_seed": texture_seed}
                chosen[name]["replaced_fraction"] = round(float(mask.mean()), 4)
                cameras[name] = recoded(episode, name, composite(frames, mask, bg))
            params = {"mask": c.mask, "replace": list(c.replace), "seed": c.seed, "cameras": chosen}
            yield augmented(episode, self.name, self.version, i, params, cameras=cameras)

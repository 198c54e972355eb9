"""``augment.inpaint``: diffusion inpainting of masked regions (background, table, distractors)
with any diffusers inpainting pipeline (see :mod:`datapipe.augment.inpaint`). Give it a GPU with the
workflow's ``resources: {gpus: 1}`` and ``workers: N`` (an actor pool loads the model once per
worker); it runs on the CPU otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from datapipe.augment.backgrounds import PersonSegmenter, episode_mask
from datapipe.augment.derived import augmented
from datapipe.augment.masked import masked_variants, recoded
from datapipe.config import check
from datapipe.engine.stage import Resources, Transform
from datapipe.records import Episode

PROMPTS = (
    "a {surface} table in a {room}, photo",
    "a robot workspace on a {surface} surface, {room} in the background",
    "a {surface} tabletop, {light} light, {room}",
)
WORDS = {
    "surface": ("wooden", "marble", "white laminate", "dark metal", "green felt", "concrete", "glass"),
    "room": ("kitchen", "office", "laboratory", "living room", "workshop", "warehouse"),
    "light": ("warm", "cool", "bright", "dim", "natural"),
}


@dataclass(frozen=True)
class InpaintConfig:
    # an inpainting pipeline: a local folder, or a model id diffusers can fetch
    model: str
    # plate (one diffusion call per episode and static camera, composited on every frame) or frame
    mode: Literal["plate", "frame"] = "plate"
    # masks: segmentation (sim masks), chroma, person (as augment.background)
    mask: Literal["segmentation", "chroma", "person"] = "segmentation"
    # segmentation classes inpainted: background, table, distractor
    replace: tuple[str, ...] = ("background", "table")
    # prompt templates; {surface}, {room} and {light} are drawn from word lists
    prompts: tuple[str, ...] = PROMPTS
    # diffusion steps
    steps: int = 20
    # classifier-free guidance scale
    guidance: float = 7.5
    # working size, pixels (a multiple of 8): frames are resized to it and back
    size: int = 512
    # new episodes per input
    variants: int = 1
    # cameras to change (empty: every camera with a mask)
    cameras: tuple[str, ...] = ()
    # pass the input episode on as well
    keep_original: bool = True
    # seed of the prompts and of the diffusion noise
    seed: int = 0

    def __post_init__(self) -> None:
        check(bool(self.model), "model", "give an inpainting pipeline folder or model id")
        check(1 <= self.steps <= 200, "steps", f"must be within 1..200, got {self.steps}")
        check(
            64 <= self.size <= 2048 and self.size % 8 == 0,
            "size",
            f"must be a multiple of 8 in 64..2048, got {self.size}",
        )
        check(0 <= self.variants <= 100, "variants", f"must be within 0..100, got {self.variants}")
        bad = sorted(set(self.replace) - {"background", "table", "distractor"})
        check(not bad, "replace", f"classes {bad} cannot be inpainted (background, table, distractor)")


class Inpaint(Transform):
    """Diffusion inpainting of masked regions (sim segmentation, chroma key or person masks), in
    plate mode (one call per episode, no flicker) or per frame; prompts from templates; on a GPU
    when the stage is given one."""

    name = "augment.inpaint"
    version = "1"
    Config = InpaintConfig
    resources = Resources(cpus=1)

    def setup(self) -> None:
        from datapipe.augment.inpaint import Inpainter

        c = self.config
        self.inpainter = Inpainter(c.model, c.steps, c.guidance, c.size)
        self.person = PersonSegmenter() if c.mask == "person" else None

    def process(self, episode: Episode) -> Iterable[Episode]:
        c = self.config
        if c.keep_original:
            yield episode

        def mask_of(ep: Episode, name: str, frames: np.ndarray) -> np.ndarray | None:
            return episode_mask(ep, name, frames, c.mask, tuple(c.replace), person=self.person)

        for i, rng, views in masked_variants(episode, c.cameras, mask_of, c.variants, c.seed, skip_empty=True):
            template = c.prompts[int(rng.integers(len(c.prompts)))]
            words = {k: v[int(rng.integers(len(v)))] for k, v in WORDS.items()}
            prompt = template.format(**words)
            cameras, done = dict(episode.cameras), {}
            for name, (frames, mask) in views.items():
                seed = int(rng.integers(2**31))
                out, info = self.inpainter.episode(frames, mask, prompt, seed, c.mode)
                cameras[name] = recoded(episode, name, out)
                done[name] = {**info, "seed": seed, "masked_fraction": round(float(mask.mean()), 4)}
            params = {"model": c.model, "prompt": prompt, "steps": c.steps, "mask": c.mask, "cameras": done}
            yield augmented(episode, self.name, self.version, i, params, cameras=cameras)

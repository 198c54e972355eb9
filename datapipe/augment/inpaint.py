"""Diffusion inpainting of masked regions of episode frames (diffusers).

:class:`Inpainter` loads any inpainting pipeline ``AutoPipelineForInpainting`` can load, from a
local folder or a model id the user gives, on the GPU when one is present, else the CPU.

Two modes over an episode camera's frames ``(T, H, W, 3)`` and masks ``(T, H, W)``:

- ``plate``: for a static camera, one diffusion call per episode: the keyframe is inpainted
  where the union of the masks is set, and the result (the plate) is composited onto every frame
  where that frame's mask is set. No flicker, and only masked pixels change.
- ``frame``: every frame is inpainted on its own (slow; the look changes from frame to frame).

Frames are resized to the pipeline's working size (a multiple of 8, ``size``) and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from datapipe.augment.backgrounds import composite

MODES = ("plate", "frame")


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Inpainter:
    """An inpainting pipeline; ``model``: a folder or a model id (downloaded by diffusers only
    when not a folder and the internet is reachable)."""

    model: str
    steps: int = 20
    guidance: float = 7.5
    size: int = 512  # working resolution, pixels (a multiple of 8)
    device: str = ""

    def __post_init__(self) -> None:
        import torch
        from diffusers import AutoPipelineForInpainting

        self.device = self.device or default_device()
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.pipe = AutoPipelineForInpainting.from_pretrained(self.model, torch_dtype=dtype).to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        if getattr(self.pipe, "safety_checker", None) is not None:
            self.pipe.safety_checker = None  # robot scenes; and it would blank whole frames

    def inpaint(self, image: np.ndarray, mask: np.ndarray, prompt: str, seed: int) -> np.ndarray:
        """``image`` (H, W, 3) uint8 with ``mask`` (H, W) bool regions redrawn; same size out."""
        import torch
        from PIL import Image

        h, w = image.shape[:2]
        side = max(8, self.size - self.size % 8)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        result = self.pipe(
            prompt=prompt,
            image=Image.fromarray(image).resize((side, side)),
            mask_image=Image.fromarray((mask * 255).astype(np.uint8)).resize((side, side)),
            num_inference_steps=self.steps,
            guidance_scale=self.guidance,
            height=side,
            width=side,
            generator=generator,
            output_type="np",
        ).images[0]
        out = np.clip(np.asarray(result) * 255 + 0.5, 0, 255).astype(np.uint8)
        return np.asarray(Image.fromarray(out).resize((w, h)))

    def episode(
        self, frames: np.ndarray, masks: np.ndarray, prompt: str, seed: int, mode: str = "plate"
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Frames with masked regions inpainted (see the module docstring), and what was done."""
        if mode == "plate":
            key = int(np.argmax(masks.reshape(len(masks), -1).sum(1)))  # the frame showing most to redraw
            union = masks.any(axis=0)
            plate = self.inpaint(frames[key], union, prompt, seed)
            return composite(frames, masks, plate), {"mode": mode, "keyframe": key, "calls": 1}
        if mode == "frame":
            out = frames.copy()
            for t in range(len(frames)):
                if masks[t].any():
                    out[t] = composite(
                        frames[t : t + 1], masks[t : t + 1], self.inpaint(frames[t], masks[t], prompt, seed)
                    )[0]
            return out, {"mode": mode, "calls": int(masks.reshape(len(masks), -1).any(1).sum())}
        raise ValueError(f"unknown inpainting mode {mode!r} (one of {MODES})")

"""A checkpoint of ``datapipe train`` as a policy: observation dict -> action chunk (H, A), in the
units of the dataset's actions (the statistics undone).

What a checkpoint observes is :attr:`LoadedPolicy.cameras` (frames ``(S, S, 3)`` uint8 at
:attr:`LoadedPolicy.image_size`, under ``observation.images.<camera>``), ``observation.state``,
:attr:`LoadedPolicy.keys` and, for the vision-language preset, the ``task`` text; an observation
without one of them raises :class:`~datapipe.training.vision_language.ObservationError` naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from datapipe.training.model import CHECKPOINT, POLICY, torch_module
from datapipe.training.presets import observation_batch, preset_for_policy


class LoadedPolicy:
    """A trained checkpoint as a callable policy: observation dict -> action chunk (H, A)."""

    def __init__(self, folder: str):
        torch = torch_module()
        meta = json.loads((Path(folder) / POLICY).read_text())
        cfg = meta["config"]
        self.keys = tuple(cfg["state_keys"])
        self.horizon, self.action_dim = int(cfg["horizon"]), int(meta["action_dim"])
        self.execute = int(meta.get("execute") or self.horizon)
        self.stats = {k: {s: np.asarray(v, np.float32) for s, v in d.items()} for k, d in meta["stats"].items()}
        self.preset = preset_for_policy(meta)
        self.cameras: tuple[str, ...] = self.preset.cameras
        self.image_size: tuple[int, int] = (self.preset.image_size, self.preset.image_size)
        # (height, width) each camera was recorded at: an evaluation renders that, then resizes
        self.render_sizes: dict[str, tuple[int, int]] = {c: tuple(v) for c, v in self.preset.render_sizes.items()}
        # {camera role: source cameras it was standardized from}, for a simulator to render
        self.camera_sources: dict[str, tuple[str, ...]] = {c: tuple(v) for c, v in self.preset.camera_sources.items()}
        self.model = self.preset.build(meta["state_dim"], self.action_dim * self.horizon, int(cfg["hidden"]))
        saved = torch.load(Path(folder) / CHECKPOINT, weights_only=False)
        self.model.load_state_dict(saved["model"])
        self.model.eval()

    def _norm(self, key: str, x: np.ndarray) -> np.ndarray:
        st = self.stats[key]
        return (np.asarray(x, np.float32).reshape(-1) - st["mean"].reshape(-1)) / np.maximum(
            st["std"].reshape(-1), 1e-6
        )

    def predict(self, observation: dict[str, Any]) -> np.ndarray:
        torch = torch_module()
        state = np.asarray(observation["observation.state"], np.float32).reshape(-1)
        width = self.stats["observation.state"]["mean"].size
        if state.size < width:  # trained on standardized states zero-padded to one width (pad_state)
            state = np.pad(state, (0, width - state.size))
        missing = [k for k in (*self.keys, *(f"observation.images.{c}" for c in self.cameras)) if k not in observation]
        if missing:
            from datapipe.training.vision_language import ObservationError

            raise ObservationError(f"the policy observes {missing[0]!r}, which the observation lacks")
        parts = [self._norm("observation.state", state)]
        parts += [self._norm(k, observation[k]) for k in self.keys]
        batch = observation_batch(self.preset, observation)
        with torch.no_grad():
            flat = torch.from_numpy(np.concatenate(parts))[None]
            y = self.preset.forward(self.model, batch, flat, train=False).numpy().reshape(self.horizon, self.action_dim)
        return y * np.maximum(self.stats["action"]["std"], 1e-8) + self.stats["action"]["mean"]


def load_checkpoint_policy(folder: str) -> LoadedPolicy:
    if not (Path(folder) / POLICY).is_file():
        from datapipe.errors import DatapipeError

        raise DatapipeError(f"{folder}: not a checkpoint of datapipe train (no {POLICY})")
    return LoadedPolicy(folder)

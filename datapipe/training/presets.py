"""What each preset of the reference trainer observes, and how a batch becomes its network's input.

A preset is made from a :class:`~datapipe.training.trainer.TrainConfig` and the dataset (or, when
a checkpoint is loaded or resumed, from its ``policy.json``) and gives the trainer and the loaded
policy the same four things: the stream's settings, the network, the forward pass of a batch,
and what ``policy.json`` must hold to rebuild it.

- ``state`` (:class:`StatePreset`): the MLP of :mod:`datapipe.training.model` on
  ``observation.state`` and the ``state_keys`` arrays (normalized), optionally with a small CNN
  on one ``camera``.
- ``vision-language`` (:class:`VisionLanguagePreset`): the network of
  :mod:`datapipe.training.vision_language` on every camera asked for, the instruction's words and
  ``observation.state``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datapipe.training.model import build_model, torch_module


class StatePreset:
    name = "state"

    def __init__(self, cfg: dict[str, Any], render_sizes: dict[str, list[int]] | None = None):
        self.camera = cfg.get("camera") or ""
        self.image_size = int(cfg.get("image_size") or 64)
        self.render_sizes = dict(render_sizes or {})
        self.camera_sources: dict[str, list[str]] = {}  # its one camera is the dataset's own
        self.vocabulary = None  # it reads no instruction

    @property
    def cameras(self) -> tuple[str, ...]:
        return (self.camera,) if self.camera else ()

    def stream_kw(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"cameras": self.cameras}
        if self.camera:
            kw["image_size"] = (self.image_size, self.image_size)
        return kw

    def build(self, state_dim: int, out_dim: int, hidden: int) -> Any:
        return build_model(state_dim, out_dim, hidden, bool(self.camera))

    def forward(self, model: Any, batch: dict[str, Any], state: Any, train: bool) -> Any:
        image = None
        if self.camera:
            image = batch[f"observation.images.{self.camera}"].permute(0, 3, 1, 2).float() / 255.0
        return model(state, image)

    def meta(self) -> dict[str, Any]:
        return {"preset": self.name, "render_sizes": self.render_sizes}


class VisionLanguagePreset:
    name = "vision-language"

    def __init__(
        self,
        cfg: dict[str, Any],
        cameras: tuple[str, ...],
        vocabulary: Any,
        render_sizes: dict[str, list[int]],
        camera_sources: dict[str, list[str]] | None = None,
    ):
        self.cameras = tuple(cameras)
        self.render_sizes = {c: [int(x) for x in render_sizes[c]] for c in self.cameras}  # (H, W) as recorded
        self.image_size = int(cfg.get("image_size") or 64)
        self.shift_px = int(cfg.get("shift_px", 4))
        self.vocabulary = vocabulary
        # {camera: [the cameras it was standardized from]}: what a simulator renders for a role
        self.camera_sources = {c: list(v) for c, v in (camera_sources or {}).items() if c in self.cameras}
        self.aux_dim = int(cfg.get("aux_dim") or 0)  # their width (the trainer sets it from the data)

    @classmethod
    def for_dataset(cls, cfg: dict[str, Any], dataset: Any) -> VisionLanguagePreset:
        """Cameras chosen from (and checked against) ``dataset``; the vocabulary of its instructions."""
        from datapipe.language.vocabulary import Vocabulary
        from datapipe.training.vision_language import check_state_keys, choose_cameras, dataset_instructions

        check_state_keys(cfg.get("state_keys", ()), bool(cfg.get("allow_privileged")))
        cameras = choose_cameras(dataset.features, cfg.get("cameras") or (), dataset.uri("index.json"))
        sizes = {c: dataset.features[c]["shape"][:2] for c in cameras}
        texts, sources = dataset_instructions(dataset)
        return cls(cfg, cameras, Vocabulary.build(texts), sizes, sources)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> VisionLanguagePreset:
        from datapipe.language.vocabulary import Vocabulary

        vocabulary = Vocabulary(tuple(meta["vocabulary"]))
        cfg = {**meta["config"], "aux_dim": meta.get("aux_dim", 0)}
        return cls(cfg, tuple(meta["cameras"]), vocabulary, meta["render_sizes"], meta.get("camera_sources"))

    def stream_kw(self) -> dict[str, Any]:
        # every instruction of an episode (its stored variants too), one drawn per sample
        return {"cameras": self.cameras, "image_size": (self.image_size, self.image_size), "instruction": "sample"}

    def build(self, state_dim: int, out_dim: int, hidden: int) -> Any:
        from datapipe.training.vision_language import build_model as build_vl

        return build_vl(self.cameras, state_dim, len(self.vocabulary), out_dim, hidden, aux_dim=self.aux_dim)

    def forward(self, model: Any, batch: dict[str, Any], state: Any, train: bool, aux: bool = False) -> Any:
        """The chunk, or with ``aux`` ``(chunk, auxiliary prediction)``."""
        from datapipe.training.vision_language import image_tensors, random_shift, word_ids

        images = image_tensors(batch, self.cameras)
        if train and self.shift_px:
            images = {c: random_shift(x, self.shift_px) for c, x in images.items()}
        texts = batch["task"] if isinstance(batch["task"], (list, tuple)) else [batch["task"]]
        return model(images, state, word_ids(self.vocabulary, texts), aux=aux)

    def meta(self) -> dict[str, Any]:
        return {
            "preset": self.name,
            "cameras": list(self.cameras),
            "image_size": [self.image_size, self.image_size],
            "render_sizes": self.render_sizes,  # what an evaluation renders, then resizes to image_size
            "camera_sources": self.camera_sources,
            "vocabulary": list(self.vocabulary.tokens),
            "aux_dim": self.aux_dim,
        }


def preset_for_training(cfg: Any, dataset: Any, saved: dict[str, Any] | None) -> StatePreset | VisionLanguagePreset:
    """The preset of a training run: from the checkpoint's ``policy.json`` when resuming (the
    vocabulary and cameras must not change under trained weights), else from the dataset."""
    from dataclasses import asdict

    if cfg.preset == "vision-language":
        if saved is not None and saved.get("preset") == "vision-language":
            return VisionLanguagePreset.from_meta(saved)
        return VisionLanguagePreset.for_dataset(asdict(cfg), dataset)
    sizes = {cfg.camera: dataset.features[cfg.camera]["shape"][:2]} if cfg.camera in dataset.features else {}
    return StatePreset(asdict(cfg), sizes)


def preset_for_policy(meta: dict[str, Any]) -> StatePreset | VisionLanguagePreset:
    """The preset a checkpoint was trained with (checkpoints before presets are ``state``)."""
    if meta.get("preset") == "vision-language":
        return VisionLanguagePreset.from_meta(meta)
    return StatePreset(meta["config"], meta.get("render_sizes"))


def observation_batch(preset: Any, observation: dict[str, Any]) -> dict[str, Any]:
    """One observation of a rollout (frames ``(S, S, 3)`` uint8 at the policy's size, ``task``
    text) as a batch of one for :meth:`forward`."""
    torch = torch_module()
    batch: dict[str, Any] = {"task": [str(observation.get("task", ""))]}
    for cam in preset.cameras:
        key = f"observation.images.{cam}"
        if key in observation:
            batch[key] = torch.from_numpy(np.ascontiguousarray(observation[key]))[None]
    return batch

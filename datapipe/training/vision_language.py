"""The vision-language reference policy (``datapipe train --preset vision-language``): it sees the
cameras, reads the instruction and feels the arm (``observation.state``), nothing privileged.

Architecture, in the spirit of robomimic's and RT-1's small policies, sized for a CPU::

    per camera  (B, 3, S, S) in [0, 1] -> conv 5x5/2 -> conv 3x3/2 -> FiLM -> conv 3x3 -> FiLM
                -> 1x1 conv to K keypoint maps (S/4 x S/4) -> spatial softmax -> (B, 2K) expected
                (x, y) in [-1, 1]
    instruction (B, L) word ids -> embedding (padding 0 ignored) -> mean over words -> (B, E)
                -> linear -> the FiLM scales and shifts of every camera's two conditioned layers
    state       (B, S_state) normalized
    head        [keypoints of every camera, state, instruction] -> MLP -> (B, H x A) action chunk,
                plus a linear map of the state (targets are the joints plus a move)

FiLM (Perez et al. 2018) multiplies and shifts each image feature channel by amounts computed from
the instruction, so the same pixels can mean "go left" for one instruction and "go right" for
another (what ``pick_named`` asks). The keypoint maps are a quarter of the input's side: the
spatial softmax still places each keypoint to a fraction of a pixel, and the convolutions cost a
quarter of what half-size maps would (about 0.1 s per step of 64 images of 64x64 from two
cameras on two CPU cores). Training shifts each image by up to ``shift_px`` pixels
(random shift, DrQ); evaluation does not. Images arrive at the model's ``image_size`` (the stream
resizes them in the loader workers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.language.vocabulary import Vocabulary
from datapipe.training.model import torch_module

PRIVILEGED = ("task.state", "object.poses", "sim.")  # what a robot in the world would not observe
MAX_WORDS = 16  # instruction words the model reads (the rest are cut)


class ObservationError(DatapipeError):
    """A vision-language policy asked for a camera or step array a dataset (or an environment)
    does not have, or for a privileged array without saying so."""


def is_privileged(key: str) -> bool:
    return any(key == p or (p.endswith(".") and key.startswith(p)) for p in PRIVILEGED)


def choose_cameras(features: dict[str, dict[str, Any]], cameras: Sequence[str], where: str) -> tuple[str, ...]:
    """The cameras to train on: ``cameras`` if given (each must be a video feature of the
    dataset), else every camera the dataset holds, in its manifest's order."""
    videos = [k.removeprefix("observation.images.") for k, f in features.items() if f.get("kind") == "video"]
    if not cameras:
        if not videos:
            raise ObservationError(f"{where}: holds no camera; the vision-language preset sees cameras")
        return tuple(videos)
    missing = [c for c in cameras if c not in videos]
    if missing:
        raise ObservationError(f"{where}: no camera {missing[0]!r} (it has: {', '.join(videos) or 'none'})")
    return tuple(cameras)


def check_state_keys(state_keys: Sequence[str], allow_privileged: bool) -> None:
    """Refuse privileged step arrays (``task.state``, ``object.poses``, ``sim.*``) unless allowed."""
    bad = [k for k in state_keys if is_privileged(k)]
    if bad and not allow_privileged:
        raise ObservationError(
            f"state key {bad[0]!r} is privileged simulator state, which a vision-language policy does not "
            "observe; pass --allow-privileged to use it anyway"
        )


def dataset_instructions(dataset: Any) -> tuple[list[str], dict[str, list[str]]]:
    """Every instruction of a :class:`~datapipe.formats.shards.dataset.ShardDataset`, stored
    variants included, and where each camera role came from: ``{role: [source camera, ...]}``
    from ``meta.standardized.cameras`` (``standardize.embodiment`` renames ``front`` to
    ``primary``; an evaluation in the simulator renders the source). Read from each sample's
    ``meta.json``, no video decoded."""
    import json

    from datapipe.formats.shards.sample import META

    texts: list[str] = []
    sources: dict[str, list[str]] = {}
    for shard in dataset.shards():
        for _, members in dataset.iter_shard(shard, wanted=lambda key, suffix: suffix == META):
            if META in members:
                meta = json.loads(members[META])
                texts += list(meta.get("task", []))
                episode_meta = meta.get("meta") or {}
                if isinstance(episode_meta, str):  # stored as JSON text
                    episode_meta = json.loads(episode_meta)
                for source, role in ((episode_meta.get("standardized") or {}).get("cameras") or {}).items():
                    if role != "drop" and source not in sources.setdefault(role, []):
                        sources[role].append(source)
    return texts, sources


def build_model(
    cameras: Sequence[str],
    state_dim: int,
    vocab_size: int,
    out_dim: int,
    hidden: int = 512,
    width: int = 32,
    keypoints: int = 32,
    embed: int = 64,
    aux_dim: int = 0,
) -> Any:
    """The network (see the module docstring); ``forward(images, state, words)`` with ``images``
    ``{camera: (B, 3, S, S) float}``, ``state`` ``(B, state_dim)``, ``words`` ``(B, L)`` int64.
    With ``aux_dim`` it also has an auxiliary head (keypoints, state, instruction -> ``(B, aux_dim)``),
    which ``forward(..., aux=True)`` returns beside the chunk: training asks it for arrays the
    policy never observes (``task.state``: where the named block and the zone are), so that the
    keypoints learn to find them."""
    torch = torch_module()
    nn = torch.nn
    names = tuple(cameras)

    class SpatialSoftmax(nn.Module):
        def forward(self, maps):  # (B, K, h, w) -> (B, 2K): expected x and y of each map in [-1, 1]
            b, k, h, w = maps.shape
            attention = torch.softmax(maps.reshape(b, k, h * w), dim=-1).reshape(b, k, h, w)
            xs = torch.linspace(-1.0, 1.0, w, device=maps.device)
            ys = torch.linspace(-1.0, 1.0, h, device=maps.device)
            x = (attention.sum(dim=2) * xs).sum(dim=-1)
            y = (attention.sum(dim=3) * ys).sum(dim=-1)
            return torch.cat([x, y], dim=-1)

    class CameraEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, width, 5, stride=2, padding=2), nn.ReLU())
            self.conv1 = nn.Conv2d(width, width, 3, stride=2, padding=1)
            self.conv2 = nn.Conv2d(width, width, 3, padding=1)
            self.keypoints = nn.Conv2d(width, keypoints, 1)
            self.softmax = SpatialSoftmax()

        def forward(self, image, film):  # film: (B, 4, width): scale1, shift1, scale2, shift2
            x = self.stem(image)
            x = torch.relu(self.conv1(x) * (1 + film[:, 0, :, None, None]) + film[:, 1, :, None, None])
            x = torch.relu(self.conv2(x) * (1 + film[:, 2, :, None, None]) + film[:, 3, :, None, None])
            return self.softmax(self.keypoints(x))

    class VisionLanguagePolicy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cameras = names
            self.encoders = nn.ModuleDict({c: CameraEncoder() for c in names})
            self.words = nn.Embedding(vocab_size, embed, padding_idx=0)
            self.film = nn.Linear(embed, len(names) * 4 * width)
            nn.init.zeros_(self.film.weight)  # start as plain convolutions
            nn.init.zeros_(self.film.bias)
            self.head = nn.Sequential(
                nn.Linear(len(names) * 2 * keypoints + state_dim + embed + aux_dim, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, out_dim),
            )
            # a linear path from the state to the chunk: joint targets are the joints plus a small
            # move, which the MLP then need not reproduce to a fraction of a degree itself
            self.skip = nn.Linear(state_dim, out_dim)
            self.has_aux = bool(aux_dim)
            if aux_dim:
                self.aux = nn.Sequential(
                    nn.Linear(len(names) * 2 * keypoints + state_dim + embed, 256), nn.ReLU(), nn.Linear(256, aux_dim)
                )

        def forward(self, images, state, words, aux=False):
            mask = (words > 0).float()[..., None]
            text = (self.words(words) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            film = self.film(text).reshape(len(state), len(self.cameras), 4, width)
            seen = [self.encoders[c](images[c], film[:, i]) for i, c in enumerate(self.cameras)]
            features = [*seen, state, text]
            guess = self.aux(torch.cat(features, dim=-1)) if self.has_aux else None
            chunk = self.head(torch.cat(features if guess is None else [*features, guess], dim=-1)) + self.skip(state)
            return (chunk, guess) if aux else chunk

    return VisionLanguagePolicy()


def random_shift(images: Any, pad: int, generator: Any = None) -> Any:
    """Each image of ``(B, 3, S, S)`` moved by up to ``pad`` pixels in x and y (edges repeated)."""
    torch = torch_module()
    if pad <= 0:
        return images
    b, _, h, w = images.shape
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])


def image_tensors(batch: dict[str, Any], cameras: Sequence[str]) -> dict[str, Any]:
    """``{camera: (B, 3, S, S) float in [0, 1]}`` from a batch's ``observation.images.<camera>``
    ``(B, S, S, 3)`` uint8 (a missing camera raises :class:`ObservationError` naming it)."""
    out = {}
    for cam in cameras:
        key = f"observation.images.{cam}"
        if key not in batch:
            raise ObservationError(f"the policy sees camera {cam!r}; the observation has no {key!r}")
        out[cam] = batch[key].permute(0, 3, 1, 2).float() / 255.0
    return out


def word_ids(vocabulary: Vocabulary, texts: Sequence[str]) -> Any:
    torch = torch_module()
    return torch.from_numpy(vocabulary.encode_batch(texts, MAX_WORDS))


def as_batch(image: np.ndarray) -> Any:
    """One ``(S, S, 3)`` uint8 frame as a ``(1, S, S, 3)`` tensor."""
    torch = torch_module()
    return torch.from_numpy(np.ascontiguousarray(image))[None]

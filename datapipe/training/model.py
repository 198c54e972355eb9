"""The reference trainer's policy network and checkpoint format.

An MLP on the state (``observation.state`` and any extra step arrays, concatenated, normalized)
and, with a camera, a small CNN on one image (RGB, scaled to [0, 1], channels first), predicting
``horizon x action_dim`` values. A checkpoint folder holds ``checkpoint.pt`` (weights, optimizer,
step, random state, stream position) and ``policy.json`` (the config, dimensions, normalization
statistics and the ``execute`` evaluation runs per chunk).
"""

from __future__ import annotations

from typing import Any

CHECKPOINT, POLICY = "checkpoint.pt", "policy.json"


def torch_module():
    import torch

    return torch


def build_model(in_dim: int, out_dim: int, hidden: int, camera: bool) -> Any:
    torch = torch_module()
    nn = torch.nn

    class BCPolicy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cnn = (
                nn.Sequential(
                    nn.Conv2d(3, 16, 5, stride=2),
                    nn.ReLU(),
                    nn.Conv2d(16, 32, 3, stride=2),
                    nn.ReLU(),
                    nn.Conv2d(32, 32, 3, stride=2),
                    nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1),
                    nn.Flatten(),
                )
                if camera
                else None
            )
            width = in_dim + (32 if camera else 0)
            self.mlp = nn.Sequential(
                nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_dim)
            )

        def forward(self, state, image=None):
            x = state
            if self.cnn is not None:
                x = torch.cat([x, self.cnn(image)], dim=-1)
            return self.mlp(x)

    return BCPolicy()

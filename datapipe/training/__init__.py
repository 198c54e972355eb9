"""Consuming shard datasets (tier 3): the streaming loader and mixtures (no torch at import),
the PyTorch dataset, and the small reference trainer (``trainer``, ``inputs``).

``from datapipe.training import ShardStream`` is the loader's public path.
"""

from datapipe.training.mixture import MixtureStream
from datapipe.training.stream import ShardStream
from datapipe.training.stream_config import StreamConfig

__all__ = ["MixtureStream", "ShardStream", "StreamConfig"]

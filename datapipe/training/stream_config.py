"""How a :class:`~datapipe.training.stream.ShardStream` streams (:class:`StreamConfig`), and the
check that a dataset holds what a stream asks for (:func:`check_wanted`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datapipe.config import check
from datapipe.errors import DatapipeError

NORMALIZE_MODES = (None, "mean_std", "q01_q99")


class StreamConfigError(DatapipeError):
    """A stream asked for what its dataset does not hold: ``field`` (``cameras`` or
    ``extra_steps``), the ``missing`` names and the ``available`` ones."""

    def __init__(self, message: str, field: str, missing: list[str], available: list[str]):
        super().__init__(message)
        self.field, self.missing, self.available = field, missing, available

    def __reduce__(self) -> tuple:
        return (StreamConfigError, (self.args[0], self.field, self.missing, self.available))


def check_wanted(features: dict[str, dict[str, Any]], cameras: Sequence[str], extra_steps: Sequence[str]) -> None:
    """Raise :class:`StreamConfigError` unless a dataset with ``features`` (its manifest's) holds
    every camera and extra step array asked for."""
    videos = [k for k, f in features.items() if f["kind"] == "video"]
    unknown = [c for c in cameras if c not in videos]
    if unknown:
        raise StreamConfigError(
            f"cameras: {unknown} not in the dataset (it has {videos or 'none'})", "cameras", unknown, videos
        )
    arrays = sorted(k for k, f in features.items() if f["kind"] == "array")
    missing = [k for k in extra_steps if k not in arrays]
    if missing:
        raise StreamConfigError(
            f"extra_steps: {missing} not in the dataset (its step arrays: {arrays})", "extra_steps", missing, arrays
        )


@dataclass(frozen=True)
class StreamConfig:
    """How to stream. Sizes in samples (steps); image_size is (height, width) in pixels."""

    split: str | None = "train"
    cameras: tuple[str, ...] | None = None
    image_size: tuple[int, int] | None = None
    state_history: int = 1
    action_horizon: int = 1
    normalize: str | None = None
    shuffle: bool = True
    shuffle_buffer: int = 1000
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    worker: int = 0
    num_workers: int = 1
    on_error: str = "raise"
    verify: bool = True  # check each sample's sha256 against episodes.parquet (cost: make bench)
    decode_threads: int = 2
    equal_shares: bool = False  # every consumer stops at the smallest consumer's sample count (DDP)
    instruction: str = "first"  # "first": the episode's first task text; "sample": one of them per sample
    extra_steps: tuple[str, ...] = ()  # other step arrays to yield at t (e.g. object.poses)
    augment: str | None = None  # photometric preset on the fly (datapipe.augment.photometric: openvla, octo, light)

    def __post_init__(self) -> None:
        check(self.split in (None, "train", "val"), "split", f"must be train, val or None (all), got {self.split!r}")
        check(
            self.instruction in ("first", "sample"), "instruction", f"must be first or sample, got {self.instruction!r}"
        )
        if self.augment is not None:
            from datapipe.augment.photometric import PRESETS

            check(self.augment in PRESETS, "augment", f"must be one of {sorted(PRESETS)} or None, got {self.augment!r}")
        check(
            self.normalize in NORMALIZE_MODES, "normalize", f"must be one of {NORMALIZE_MODES}, got {self.normalize!r}"
        )
        check(self.on_error in ("raise", "skip"), "on_error", f"must be 'raise' or 'skip', got {self.on_error!r}")
        check(self.decode_threads >= 0, "decode_threads", f"must be >= 0, got {self.decode_threads}")
        check(self.state_history >= 1, "state_history", f"must be >= 1, got {self.state_history}")
        check(self.action_horizon >= 1, "action_horizon", f"must be >= 1, got {self.action_horizon}")
        check(
            0 <= self.rank < self.world_size, "rank", f"need 0 <= rank ({self.rank}) < world_size ({self.world_size})"
        )
        check(
            0 <= self.worker < self.num_workers,
            "worker",
            f"need 0 <= worker ({self.worker}) < num_workers ({self.num_workers})",
        )

    @property
    def consumer(self) -> tuple[int, int]:
        """(this consumer's index, number of consumers)."""
        return self.rank * self.num_workers + self.worker, self.world_size * self.num_workers

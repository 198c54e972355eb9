"""A PyTorch ``IterableDataset`` over :class:`datapipe.training.stream.ShardStream` (extra ``torch``).

Each ``DataLoader`` worker streams its own share (``worker`` of ``num_workers``, from
``torch.utils.data.get_worker_info``); arrays become tensors, strings stay strings, so the
default collate batches them. Resuming a ``DataLoader`` exactly: after ``k`` batches, take
:meth:`TorchShardDataset.loader_state` ``(k, batch_size, num_workers)`` and give it to
:meth:`load_state_dict` of a fresh dataset before building the new loader. This models the
``DataLoader``'s in-order round robin over workers (each worker batches its own samples; an
exhausted worker drops out of the rotation) and assumes ``drop_last=False``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datapipe.training.stream import ShardStream

try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "datapipe.training.torch_dataset needs PyTorch: install the 'torch' extra (pip install -e '.[torch]')"
    ) from exc


def _to_torch(sample: dict[str, Any]) -> dict[str, Any]:
    """Arrays as tensors; read-only arrays (views of decoded buffers) are copied first, so a tensor
    a training loop writes to never aliases memory it must not change."""
    return {
        k: torch.from_numpy(v if v.flags.writeable else v.copy()) if isinstance(v, np.ndarray) else v
        for k, v in sample.items()
    }


class TorchShardDataset(IterableDataset):
    """Training samples of a shard dataset for ``torch.utils.data.DataLoader``.

    ``path`` and ``config`` are those of :class:`ShardStream` (without ``worker``/``num_workers``,
    which come from the loader); a ``{name: path}`` mapping streams a mixture
    (:class:`datapipe.training.mixture.MixtureStream`, its settings in ``config``)."""

    def __init__(self, path: str | dict[str, str], **config: Any):
        super().__init__()
        if isinstance(path, dict):  # a mixture {name: path} (weights=..., normalization=... in config)
            from datapipe.training.mixture import MixtureStream

            self.path, self.config = dict(path), config
            self._stream = MixtureStream(self.path, **config)
        else:
            self.path, self.config = str(path), config
            self._stream = ShardStream(self.path, **config)
        self._worker_states: dict[int, dict[str, Any]] = {}
        self._rotate = 0  # loader worker i plays share (i + rotate) % num_workers after a resume

    def _worker_stream(self, worker: int, num_workers: int) -> ShardStream:
        stream = self._stream.with_worker(worker, num_workers)
        state = self._worker_states.get(worker)
        if state is not None:
            stream.load_state_dict(state)
        return stream

    def __iter__(self):
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        worker = (worker + self._rotate) % num_workers
        for sample in self._worker_stream(worker, num_workers):
            yield _to_torch(sample)

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning in every worker."""
        self._stream.set_epoch(epoch)
        self._worker_states, self._rotate = {}, 0

    def loader_state(self, batches: int, batch_size: int, num_workers: int) -> dict[str, Any]:
        """The state after a ``DataLoader(batch_size, num_workers)`` over this dataset (in its
        current epoch and state) yielded ``batches`` batches."""
        workers = max(1, num_workers)
        streams = [self._worker_stream(w, workers) for w in range(workers)]
        w = self._rotate % workers
        remaining = [len(s) - s.position for s in streams]
        left = [-(-r // batch_size) for r in remaining]  # batches each worker still has
        taken = [0] * workers
        n = 0
        while n < batches and any(left):
            if left[w]:
                left[w] -= 1
                taken[w] += 1
                n += 1
            w = (w + 1) % workers
        states = {}
        for i, s in enumerate(streams):
            consumed = min(taken[i] * batch_size, remaining[i])
            states[i] = {**s.state_dict(), "position": s.position + consumed}
        return {"num_workers": workers, "workers": states, "rotate": w}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`loader_state` (use a loader with the same ``num_workers``)."""
        self._worker_states = {int(k): v for k, v in state["workers"].items()}
        self._rotate = int(state.get("rotate", 0))

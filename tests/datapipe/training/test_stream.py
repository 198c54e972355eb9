"""datapipe.training.stream: seeded shuffling, exact mid-epoch resume, rank x worker splitting, and the
PyTorch adapter under a real DataLoader with worker processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datapipe.errors import DatapipeError
from datapipe.training.stream import ShardStream
from tests.helpers import synthetic_shards

N = 30


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    source = {
        "episodes": N,
        "episodes_per_shard": 5,
        "seed": 2,
        "min_length": 4,
        "max_length": 12,
        "cameras": ["wrist"],
        "image_size": [24, 24],
    }
    sink = {"shard_max_episodes": 3, "val_fraction": 0.0}
    return synthetic_shards(tmp_path_factory.mktemp("stream"), source, sink)[0]


def _key(s) -> tuple[str, int]:
    return s["episode_id"], int(s["frame_index"])


def test_shuffle_is_seeded_and_changes_each_epoch(dataset):
    a = ShardStream(str(dataset), shuffle_buffer=40, seed=1)
    e0 = [_key(s) for s in a]
    e1 = [_key(s) for s in a]  # the stream moved on to epoch 1
    again = [_key(s) for s in ShardStream(str(dataset), shuffle_buffer=40, seed=1)]
    other_seed = [_key(s) for s in ShardStream(str(dataset), shuffle_buffer=40, seed=2)]
    assert e0 == again and e0 != e1 and e0 != other_seed
    assert sorted(e0) == sorted(e1) and len(set(e0)) == len(e0) == len(a)


@pytest.mark.parametrize("k", [0, 1, 17, 60, 150])
def test_resume_continues_at_exactly_the_next_sample(dataset, k):
    full = list(ShardStream(str(dataset), shuffle_buffer=40, action_horizon=3))
    first = ShardStream(str(dataset), shuffle_buffer=40, action_horizon=3)
    it = iter(first)
    head = [next(it) for _ in range(k)]
    state = first.state_dict()
    resumed = ShardStream(str(dataset), shuffle_buffer=40, action_horizon=3)
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert [_key(s) for s in head + rest] == [_key(s) for s in full]
    for a, b in zip(rest, full[k:]):  # the data too, not only the keys
        assert np.array_equal(a["observation.images.wrist"], b["observation.images.wrist"])
        assert np.array_equal(a["action"], b["action"]) and np.array_equal(a["action_is_pad"], b["action_is_pad"])


def test_resume_refuses_other_order_settings(dataset):
    state = ShardStream(str(dataset), seed=1).state_dict()
    with pytest.raises(DatapipeError, match="seed"):
        ShardStream(str(dataset), seed=2).load_state_dict(state)


@pytest.mark.parametrize("world_size,workers", [(2, 2), (4, 3)])
def test_ranks_and_workers_see_disjoint_samples_covering_the_dataset(dataset, world_size, workers):
    everything = [_key(s) for s in ShardStream(str(dataset), shuffle=False)]
    seen: list[tuple[str, int]] = []
    for rank in range(world_size):
        for worker in range(workers):
            seen += [
                _key(s)
                for s in ShardStream(
                    str(dataset), rank=rank, world_size=world_size, worker=worker, num_workers=workers, seed=5
                )
            ]
    assert len(seen) == len(set(seen)) and set(seen) == set(everything)


def _loader(ds, workers: int, batch: int = 4):
    import torch

    return torch.utils.data.DataLoader(
        ds, batch_size=batch, num_workers=workers, multiprocessing_context="fork" if workers else None
    )


def _batch_keys(batch) -> list[tuple[str, int]]:
    return list(zip(batch["episode_id"], batch["frame_index"].tolist()))


def test_torch_dataloader_two_ranks_two_workers(dataset):
    pytest.importorskip("torch")
    from datapipe.training.torch_dataset import TorchShardDataset

    seen = []
    for rank in range(2):
        ds = TorchShardDataset(str(dataset), rank=rank, world_size=2, shuffle_buffer=20, image_size=(16, 16))
        for batch in _loader(ds, 2):
            assert batch["observation.images.wrist"].shape[1:] == (16, 16, 3)
            assert str(batch["observation.images.wrist"].dtype) == "torch.uint8"
            seen += _batch_keys(batch)
    everything = {_key(s) for s in ShardStream(str(dataset), shuffle=False)}
    assert len(seen) == len(set(seen)) and set(seen) == everything


@pytest.mark.parametrize("k", [3, 11])
def test_torch_dataloader_resumes_after_k_batches(dataset, k):
    pytest.importorskip("torch")
    from datapipe.training.torch_dataset import TorchShardDataset

    full = [key for b in _loader(TorchShardDataset(str(dataset), shuffle_buffer=20), 2) for key in _batch_keys(b)]
    state = TorchShardDataset(str(dataset), shuffle_buffer=20).loader_state(k, batch_size=4, num_workers=2)
    ds = TorchShardDataset(str(dataset), shuffle_buffer=20)
    ds.load_state_dict(state)
    rest = [key for b in _loader(ds, 2) for key in _batch_keys(b)]
    consumed = [
        key for b in list(_loader(TorchShardDataset(str(dataset), shuffle_buffer=20), 2))[:k] for key in _batch_keys(b)
    ]
    assert consumed + rest == full


def test_equal_shares_give_every_rank_the_same_count(dataset):
    plain = [len(ShardStream(str(dataset), rank=r, world_size=2, seed=4)) for r in range(2)]
    streams = [ShardStream(str(dataset), rank=r, world_size=2, seed=4, equal_shares=True) for r in range(2)]
    keys = [[_key(s) for s in st] for st in streams]
    assert len(keys[0]) == len(keys[1]) == min(plain)
    assert not set(keys[0]) & set(keys[1])
    # resume still lands on the next sample under the cut
    s = ShardStream(str(dataset), rank=1, world_size=2, seed=4, equal_shares=True)
    it = iter(s)
    head = [_key(next(it)) for _ in range(7)]
    resumed = ShardStream(str(dataset), rank=1, world_size=2, seed=4, equal_shares=True)
    resumed.load_state_dict(s.state_dict())
    assert head + [_key(x) for x in resumed] == keys[1]

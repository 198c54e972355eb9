"""Mixtures of shard datasets in the stream: weights, dataset tags, determinism, exact resume,
per-dataset and pooled normalization, and the PyTorch dataset over a mixture."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe.formats.shards.dataset import ShardDataset
from datapipe.formats.shards.manifest import build_manifest
from datapipe.formats.shards.writer import ShardOptions, write_part
from datapipe.storage import resolve
from datapipe.training.mixture import MixtureError, MixtureStream
from tests.helpers import expected_synthetic


def _dataset(root, n: int, seed: int, scale: float = 1.0, state_dim: int = 7) -> str:
    eps = expected_synthetic(n, seed=seed, min_length=8, max_length=12, state_dim=state_dim)
    eps = [e.with_steps(action=e.steps["action"] * scale) for e in eps]
    receipt = write_part(resolve(root), eps, "part-000000000000000a", ShardOptions(max_episodes=3, val_fraction=0.0))
    build_manifest(resolve(root), [receipt], 0.0, "")
    return str(root)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mix")
    return {"big": _dataset(tmp / "big", 12, 1), "small": _dataset(tmp / "small", 3, 2, scale=10.0)}


def _tags(stream) -> list[str]:
    return [s["dataset"] for s in stream]


def test_weights_tags_and_determinism(datasets):
    sizes = {n: len(ShardDataset(p).episodes) for n, p in datasets.items()}
    assert sizes == {"big": 12, "small": 3}
    by_size = MixtureStream(datasets, weights="size", seed=3)
    tags = _tags(by_size)
    assert len(tags) == len(by_size) and set(tags) == {"big", "small"}
    share = tags.count("small") / len(tags)
    expected = by_size.weights[by_size.names.index("small")]
    assert abs(share - expected) < 0.1
    assert _tags(MixtureStream(datasets, weights="size", seed=3)) == tags  # same seed, same order
    uniform = _tags(MixtureStream(datasets, weights="uniform", seed=3))
    assert abs(uniform.count("small") / len(uniform) - 0.5) < 0.1  # the small dataset repeats
    only = _tags(MixtureStream(datasets, weights={"big": 1.0}, seed=3))
    assert set(only) == {"big"}
    with pytest.raises(MixtureError, match="unknown datasets"):
        MixtureStream(datasets, weights={"huge": 1.0})


def _take(stream: MixtureStream, n: int) -> list[tuple]:
    """The next ``n`` samples' keys, moving on to the next epoch when one ends."""
    out: list[tuple] = []
    while len(out) < n:
        for s in stream:
            out.append((s["dataset"], s["episode_id"], s["frame_index"]))
            if len(out) == n:
                break
    return out


def test_exact_resume_mid_epoch_and_across_epochs(datasets):
    def mixture() -> MixtureStream:
        return MixtureStream(datasets, weights="uniform", seed=5, samples_per_epoch=90)

    reference = _take(mixture(), 180)  # two epochs
    for cut in (1, 37, 89, 90, 131):
        first = mixture()
        seen = _take(first, cut)
        second = mixture()
        second.load_state_dict(first.state_dict())
        assert seen + _take(second, 180 - cut) == reference, cut


def test_per_dataset_and_pooled_normalization(datasets):
    per = MixtureStream(datasets, weights="uniform", normalize="mean_std", seed=1)
    actions = {n: np.stack([s["action"] for s in per if s["dataset"] == n]) for n in ("big", "small")}
    for n in actions:  # each dataset centred on its own statistics
        assert abs(float(actions[n].mean())) < 1.0
    pooled = MixtureStream(datasets, weights="uniform", normalize="mean_std", normalization="pooled", seed=1)
    small = np.stack([s["action"] for s in pooled if s["dataset"] == "small"])
    raw = np.stack([s["action"] for s in MixtureStream(datasets, weights="uniform", seed=1) if s["dataset"] == "small"])
    center, scale, _ = pooled._pooled["action"]
    np.testing.assert_allclose(small, (raw - center) / scale, rtol=1e-5, atol=1e-5)
    assert np.abs(small).mean() > np.abs(actions["small"]).mean()  # the pooled scale is not the small one's


def test_shapes_must_agree(datasets, tmp_path):
    other = _dataset(tmp_path / "other", 2, 3, state_dim=9)
    with pytest.raises(MixtureError, match="observation.state differs between the datasets"):
        MixtureStream({**datasets, "other": other})


def test_torch_dataset_over_a_mixture(datasets):
    torch = pytest.importorskip("torch")
    from datapipe.training.torch_dataset import TorchShardDataset

    ds = TorchShardDataset(datasets, weights="uniform", seed=2, samples_per_epoch=40)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=0)
    batches = list(loader)
    assert sum(len(b["dataset"]) for b in batches) == 40 and set(sum((b["dataset"] for b in batches), [])) == {
        "big",
        "small",
    }
    assert batches[0]["action"].dtype == torch.float32

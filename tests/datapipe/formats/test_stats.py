"""Normalization statistics (datapipe.formats.shards.stats): merged moments equal numpy's over all
values, whatever the split; quantiles are numpy's; the row sample is seeded and keeps its share."""

import numpy as np
import pytest

from datapipe.formats.shards.stats import Moments, QuantileSample, feature_stats, stats_features


@pytest.mark.parametrize("cuts", [(1,), (3, 4), (1, 2, 3, 50), (99,)])
def test_merged_moments_equal_those_of_all_values(cuts):
    rng = np.random.default_rng(len(cuts))
    values = rng.normal(3.0, 2.0, (100, 4)) * [1, 10, 1e-3, 1e4]  # scales that break naive sums
    parts = np.split(values, cuts)
    merged = Moments.of(parts[0])
    for part in parts[1:]:
        merged = merged.merge(Moments.of(part))
    assert merged.count == 100
    np.testing.assert_allclose(merged.mean, values.mean(0), rtol=1e-12)
    np.testing.assert_allclose(merged.std, values.std(0), rtol=1e-10)
    np.testing.assert_array_equal(merged.min, values.min(0))
    np.testing.assert_array_equal(merged.max, values.max(0))
    again = Moments.from_json(merged.to_json())  # the receipt round trip is exact
    np.testing.assert_array_equal(again.m2, merged.m2)


def test_merge_order_does_not_matter():
    rng = np.random.default_rng(1)
    a, b, c = (Moments.of(rng.normal(size=(n, 2))) for n in (5, 17, 2))
    left, right = a.merge(b).merge(c), c.merge(a.merge(b))
    np.testing.assert_allclose(left.mean, right.mean, rtol=1e-13)
    np.testing.assert_allclose(left.m2, right.m2, rtol=1e-12)


def test_feature_stats_quantiles_are_numpys_and_fall_back_to_the_range():
    values = np.arange(1000, dtype=np.float64).reshape(-1, 2)
    doc = feature_stats(Moments.of(values), values, [2], exact=True)
    np.testing.assert_allclose(doc["q01"], np.quantile(values, 0.01, axis=0))
    np.testing.assert_allclose(doc["q99"], np.quantile(values, 0.99, axis=0))
    empty = feature_stats(Moments.of(values), None, [2], exact=False)
    assert empty["q01"] == doc["min"] and empty["q99"] == doc["max"] and not empty["quantiles_exact"]


def test_stats_features_skip_the_timestamp_and_text_and_flatten():
    steps = {
        "timestamp": np.arange(3.0),
        "object.poses": np.zeros((3, 2, 7), np.float32),
        "gripper": np.array([True, False, True]),
        "note": np.array(["a", "b", "c"]),
    }
    out = stats_features(steps)
    assert set(out) == {"object.poses", "gripper"} and out["object.poses"].shape == (3, 14)
    assert out["gripper"].dtype == np.float64


def test_the_quantile_sample_is_all_rows_below_the_cap_and_a_seeded_share_above():
    rows = np.arange(10_000, dtype=np.float64)[:, None]
    small = QuantileSample(total_rows=100, max_rows=1000)
    small.add(rows[:100])
    assert small.exact and len(small.values()) == 100
    draws = []
    for _ in range(2):
        big = QuantileSample(total_rows=10_000, max_rows=1000, seed=7)
        for chunk in np.split(rows, 10):
            big.add(chunk)
        draws.append(big.values())
    assert not big.exact and 850 < len(draws[0]) < 1150
    np.testing.assert_array_equal(draws[0], draws[1])
    assert QuantileSample(total_rows=0, max_rows=10).values() is None

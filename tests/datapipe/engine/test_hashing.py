"""Content hashes (datapipe.engine.hashing): equal configs give equal hashes whatever the key
order, any change of name, version, parameter or input gives another, inputs are a set."""

from datapipe.engine.hashing import HASH_CHARS, canonical_json, config_hash, keys_hash, output_hash


def test_the_config_hash_ignores_key_order_and_sees_every_change():
    base = config_hash("filter.expr", "1", {"expr": "length > 3", "with": {"a": 1, "b": [1, 2]}})
    assert base == config_hash("filter.expr", "1", {"with": {"b": [1, 2], "a": 1}, "expr": "length > 3"})
    others = {
        config_hash("filter.exprs", "1", {"expr": "length > 3", "with": {"a": 1, "b": [1, 2]}}),
        config_hash("filter.expr", "2", {"expr": "length > 3", "with": {"a": 1, "b": [1, 2]}}),
        config_hash("filter.expr", "1", {"expr": "length > 4", "with": {"a": 1, "b": [1, 2]}}),
        config_hash("filter.expr", "1", {"expr": "length > 3", "with": {"a": 1, "b": [2, 1]}}),
    }
    assert base not in others and len(others) == 4 and len(base) == HASH_CHARS


def test_the_output_hash_depends_on_the_inputs_as_a_set():
    assert output_hash("c", ["x", "y"]) == output_hash("c", ["y", "x"])
    assert len({output_hash("c", ["x", "y"]), output_hash("c", ["x"]), output_hash("d", ["x", "y"])}) == 3
    assert keys_hash(["b", "a"]) == keys_hash(["a", "b"]) != keys_hash(["a"])


def test_canonical_json_is_compact_sorted_and_takes_what_json_cannot():
    from pathlib import Path

    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert canonical_json({"p": Path("/x")}) == '{"p":"/x"}'

"""Seeded, bounded fuzzing: malformed workflows exit 2 (or validate) without a traceback; damaged
shard datasets never crash the stream with on_error="skip", validate-dataset or the audit."""

from __future__ import annotations

import copy
import random
import shutil
import time
from pathlib import Path

import pytest
import yaml

from datapipe.cli import main
from datapipe.errors import DatapipeError
from datapipe.formats.shards.validate import validate_dataset
from datapipe.training.stream import ShardStream
from tests.damage import make_shards

BASE = {
    "name": "fuzz",
    "defaults": {"batch_size": 4},
    "stages": [
        {"id": "src", "uses": "source.synthetic", "with": {"episodes": 4, "cameras": ["front"]}},
        {
            "id": "keep",
            "uses": "filter.expr",
            "needs": ["src"],
            "with": {"expr": "length > 3"},
            "resources": {"cpus": 1},
            "max_error_rate": 0.1,
        },
        {"id": "out", "uses": "sink.webdataset", "needs": ["keep"], "with": {"path": "out", "val_fraction": 0.1}},
        {"id": "table", "uses": "sink.parquet", "needs": ["keep"], "with": {"path": "table", "overwrite": False}},
    ],
}
JUNK = [
    None,
    0,
    -1,
    1.5,
    float("nan"),
    float("inf"),
    10**40,
    True,
    "",
    "x" * 5000,
    "../../etc",
    "ünï\u0000",
    [],
    [1, [2, [3]]],
    {},
    {"a": {"b": None}},
    "$(rm -rf /)",
    "__import__('os')",
    "length > ",
    3e308,
    "   ",  # an empty sink path once a template variable is unset
    "out",  # the other sink's folder
    "out/inner",
    ".",
    "..",
    "src\n",
    "x\ud800y",  # a lone surrogate
    "s" * 300,
]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _mutate(rng: random.Random, doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(doc) if p]
        path = rng.choice(paths)
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        action = rng.random()
        if action < 0.6:
            parent[path[-1]] = rng.choice(JUNK)
        elif action < 0.75 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action < 0.9 and isinstance(parent, dict):
            parent[rng.choice(["extra", "uses", "needs", "with", "id", 7])] = rng.choice(JUNK)
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(rng.choice(parent)))
    return doc


def test_malformed_workflows_never_give_a_traceback(tmp_path, capsys):
    rng = random.Random(1234)
    started, seen = time.perf_counter(), {0: 0, 2: 0}
    for i in range(250):
        if time.perf_counter() - started > 60:
            break
        path = tmp_path / f"wf{i}.yaml"
        if i % 10 == 9:  # raw bytes: broken YAML, odd encodings
            text = yaml.safe_dump(BASE).encode()
            cut = bytearray(text[: rng.randint(0, len(text))])
            for _ in range(rng.randint(1, 5)):
                if cut:
                    cut[rng.randrange(len(cut))] = rng.randrange(256)
            path.write_bytes(bytes(cut))
        elif i % 10 == 8:  # a key written twice
            lines = yaml.safe_dump(_mutate(rng, BASE)).splitlines()
            k = rng.randrange(len(lines))
            path.write_text("\n".join([*lines[: k + 1], lines[k], *lines[k + 1 :]]) + "\n")
        else:
            path.write_text(yaml.safe_dump(_mutate(rng, BASE), allow_unicode=False))
        rc = main(["validate", str(path)])
        err = capsys.readouterr().err
        assert rc in (0, 2), (path.read_bytes()[:500], err)
        assert "Traceback" not in err and len(err.strip().splitlines()) <= 1, err
        seen[rc] += 1
    assert seen[2] > 50  # most mutations are bad input


USER_FILES = {"notes.txt": b"mine", "old.tar": b"tar", "part-00000-c000.snappy.parquet": b"spark", "x.tmp-3": b"t"}


def test_fuzzed_sink_paths_and_overwrite_never_touch_a_users_files(tmp_path, monkeypatch, capsys):
    """Sink paths drawn from blanks, the current directory, each other's folders and a user's
    folder, with and without overwrite: each run validates and runs or exits 2, without a
    traceback, and the user's files (in the current directory and in their folder) stay as they were."""
    rng = random.Random(77)
    choices = ["", " ", ".", "./", "out", "out/inner", "table", "user", "user/sub", "fresh"]
    ran = 0
    for i in range(14):
        cwd = tmp_path / f"t{i}"
        (cwd / "user").mkdir(parents=True)
        for folder in (cwd, cwd / "user"):
            for name, data in USER_FILES.items():
                (folder / name).write_bytes(data)
        doc = copy.deepcopy(BASE)
        for stage in doc["stages"][2:]:
            stage["with"]["path"] = rng.choice(choices)
            stage["with"]["overwrite"] = rng.random() < 0.5
        (cwd / "wf.yaml").write_text(yaml.safe_dump(doc))
        monkeypatch.chdir(cwd)
        rc = main(["run", "wf.yaml", "--local", "--no-progress"])
        err = capsys.readouterr().err
        assert rc in (0, 2) and "Traceback" not in err, (doc["stages"][2:], err)
        ran += rc == 0
        for folder in (cwd, cwd / "user"):
            for name, data in USER_FILES.items():
                assert (folder / name).read_bytes() == data, (doc["stages"][2:], folder / name)
    assert ran >= 3  # some draws are valid and write (into the user's folder with overwrite too)


def _damage(rng: random.Random, root: Path) -> str:
    files = sorted(p for p in root.iterdir() if p.is_file())
    target = rng.choice(files)
    data = bytearray(target.read_bytes())
    kind = rng.choice(["flip", "flip", "flip", "truncate", "zero", "delete"])
    if kind == "delete":
        target.unlink()
    elif kind == "truncate":
        target.write_bytes(bytes(data[: rng.randrange(len(data))]))
    elif kind == "zero":
        a = rng.randrange(len(data))
        data[a : a + rng.randint(1, 2048)] = b"\0" * len(data[a : a + rng.randint(1, 2048)])
        target.write_bytes(bytes(data))
    else:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        target.write_bytes(bytes(data))
    return f"{kind} {target.name}"


@pytest.mark.slow
def test_damaged_datasets_never_crash_readers(tmp_path, capsys):
    clean = make_shards(tmp_path / "clean")
    rng = random.Random(99)
    started = time.perf_counter()
    for i in range(40):
        if time.perf_counter() - started > 120:
            break
        root = tmp_path / f"d{i}"
        shutil.copytree(clean, root)
        what = _damage(rng, root)
        try:
            stream = ShardStream(str(root), split=None, on_error="skip")
        except DatapipeError:
            stream = None  # a manifest that cannot be read: refused at open, with a message
        if stream is not None:
            for _ in stream:
                pass
        report = validate_dataset(str(root), deep=True)
        name = what.split()[1]
        if name.endswith(".tar") and (
            not (root / name).exists() or (root / name).read_bytes() != (clean / name).read_bytes()
        ):
            assert any(p.shard == name for p in report.problems), what  # any change to a shard is found
        rc = main(["audit", str(root), "--out", str(tmp_path / f"a{i}"), "--no-progress"])
        err = capsys.readouterr().err
        assert rc in (0, 2) and "Traceback" not in err, (what, err)

"""The stream never feeds wrong or missing samples silently (issue 24, item 7): every kind of
damage to a shard dataset is a named error (``on_error="raise"``) or skipped, counted samples
(``"skip"``) whose survivors are exactly the clean dataset's, and ``validate-dataset --deep`` and
the audit find each one."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datapipe.cli import main
from datapipe.errors import DatapipeError
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.formats.shards.validate import validate_dataset
from datapipe.training.stream import ShardStream
from tests.damage import make_shards


def _flip_bit(root):
    shard = root / ShardDataset(str(root)).shards()[0]["name"]
    data = bytearray(shard.read_bytes())
    with tarfile.open(shard) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("observation.state.npy"))
    data[member.offset_data + member.size - 3] ^= 0x10  # one bit of one float, inside the tar
    shard.write_bytes(bytes(data))


def _swap_mp4_members(root):
    """Two samples' videos exchanged inside their shard (a buggy repacking tool)."""
    shard = root / ShardDataset(str(root)).shards()[0]["name"]
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    videos = [i for i, (m, _) in enumerate(members) if m.name.endswith(".mp4")]
    a, b = videos[0], videos[1]
    members[a], members[b] = (members[a][0], members[b][1]), (members[b][0], members[a][1])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for m, data in members:
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    shard.write_bytes(buf.getvalue())


def _swap_shard_files(root):
    a, b = (root / s["name"] for s in ShardDataset(str(root)).shards()[:2])
    tmp = root / "swap.tmp"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


def _edit_table(column, edit):
    def damage(root):
        table = pq.read_table(root / "episodes.parquet")
        values = table[column].to_pylist()
        values[1] = edit(values[1])
        i = table.column_names.index(column)
        pq.write_table(
            table.set_column(i, column, pa.array(values, table.schema.field(column).type)), root / "episodes.parquet"
        )

    return damage


def _drop_shard_from_index(root):
    index = json.loads((root / "index.json").read_text())
    index["shards"] = index["shards"][1:]
    (root / "index.json").write_text(json.dumps(index))


DAMAGE = {
    "a flipped bit": _flip_bit,
    "two mp4 members swapped": _swap_mp4_members,
    "two shard files swapped": _swap_shard_files,
    "a length edited": _edit_table("length", lambda n: n + 1),
    "an index edited": _edit_table("index_in_shard", lambda n: n + 10),
    "an id edited": _edit_table("episode_id", lambda e: e[:-4] + "beef"),
    "a shard dropped from index.json": _drop_shard_from_index,
    "a length of 10^12": _edit_table("length", lambda n: 10**12),
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = make_shards(tmp_path_factory.mktemp("clean") / "ds")
    samples = {(s["episode_id"], s["frame_index"]): s for s in ShardStream(str(root), split=None, shuffle=False)}
    return root, samples


def _samples(root, **kw):
    stream = ShardStream(str(root), split=None, shuffle=False, **kw)
    got, done, failed = [], threading.Event(), []

    def consume():
        try:
            got.extend(stream)
        except Exception as exc:
            failed.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    thread.join(60)
    assert done.is_set(), "the stream hangs"
    if failed:
        raise failed[0]
    return stream, got


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damage_is_a_named_error_or_counted_skips_and_validation_and_the_audit_find_it(case, clean, tmp_path):
    root, clean_samples = clean
    damaged = tmp_path / "ds"
    shutil.copytree(root, damaged)
    DAMAGE[case](damaged)
    with pytest.raises(DatapipeError):  # raise: a named error (it must not hang either)
        _, _ = _samples(damaged)
    stream, got = _samples(damaged, on_error="skip")
    assert sum(stream.skipped.values()) >= 1, case
    assert len(got) < len(clean_samples)
    for s in got:  # every sample that survives is the clean dataset's, bit for bit
        want = clean_samples[(s["episode_id"], s["frame_index"])]
        assert all(np.array_equal(s[k], want[k]) for k in want if isinstance(want[k], np.ndarray)), case
    assert validate_dataset(str(damaged), deep=True).problems, case
    assert main(["validate-dataset", str(damaged), "--deep", "--no-progress"]) != 0
    assert main(["audit", str(damaged), "--out", str(tmp_path / "audit"), "--no-progress", "--fail-on", "error"]) == 1


def test_mean_std_without_statistics_is_an_error_not_raw_values(clean, tmp_path):
    root, _ = clean
    damaged = tmp_path / "ds"
    shutil.copytree(root, damaged)
    index = json.loads((damaged / "index.json").read_text())
    index["stats"] = {}
    (damaged / "index.json").write_text(json.dumps(index))
    with pytest.raises(DatapipeError, match="mean/std statistics"):
        ShardStream(str(damaged), normalize="mean_std")
    assert len(list(ShardStream(str(damaged), split=None))) == len(clean[1])  # unnormalized is fine

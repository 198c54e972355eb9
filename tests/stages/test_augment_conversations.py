"""augment.conversations: question-answer pairs from ground truth, and their own shard member."""

from __future__ import annotations

import json
import tarfile

import numpy as np

from datapipe.augment.conversations import gripper_events, segments
from datapipe.formats.shards.dataset import ShardDataset
from datapipe.formats.shards.manifest import build_manifest
from datapipe.formats.shards.writer import ShardOptions, write_part
from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.stages.augment.conversations import Conversations, ConversationsConfig
from datapipe.storage import resolve


def test_conversations_from_ground_truth_and_their_member(tmp_path):
    gen = SimGenerator(SimSettings(task="pick_place", cameras=()))
    run = next(r for r in (gen.simulate(s) for s in range(5)) if r.success)
    ep = gen.episode(run, render=False)
    events = gripper_events(ep)
    assert [k for _, k in events] == ["close", "open"]
    segs = segments(ep)
    assert [s[2] for s in segs] == ["reach", "move the grasped object", "release and retreat"]
    assert segs[0][0] == 0 and segs[-1][1] == ep.length - 1
    (out,) = Conversations(ConversationsConfig()).process(ep)
    by_kind = {c["kind"]: c["turns"] for c in out.meta["conversations"]}
    assert by_kind["success"][1]["value"] == "yes"
    assert by_kind["grasp_time"][1]["value"] == f"at step {events[0][0]} of {ep.length}"
    colour = ep.meta["randomization"]["task"]["block"]["colour"]
    assert f"the {colour} block" in by_kind["object_position"][0]["value"]
    xy = ep.meta["randomization"]["task"]["block"]["xy"]
    x, y = (float(v.split()[1].rstrip(",")) for v in by_kind["object_position"][1]["value"].split(", ")[:2])
    assert abs(x - xy[0]) < 0.02 and abs(y - xy[1]) < 0.02  # where the block was placed, base frame
    zone = np.array(ep.meta["randomization"]["task"]["zone"]["xy"])
    moved = float(by_kind["object_motion"][1]["value"].split()[0])
    assert abs(moved - np.linalg.norm(zone - xy)) < 0.08  # it went to the zone
    receipt = write_part(resolve(tmp_path), [out], "part-000000000000000a", ShardOptions(val_fraction=0.0))
    build_manifest(resolve(tmp_path), [receipt], 0.0, "")
    (shard,) = tmp_path.glob("*.tar")
    with tarfile.open(shard) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".conversations.json"))
        assert json.loads(tar.extractfile(member).read()) == out.meta["conversations"]
    (back,) = ShardDataset(str(tmp_path)).iter_episodes()
    assert back.meta["conversations"] == out.meta["conversations"]

"""pick_named: the instruction names the block; putting another block in the zone fails; the
held-out instruction templates share no template with training."""

from __future__ import annotations

import re

import numpy as np

from datapipe.generators.expert import Expert
from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.tasks.pick_named import BLOCK, OTHERS, PickNamed
from datapipe.generators.tasks.pick_place import pick_and_place


class PicksTheFirstOther(PickNamed):
    """The expert's plan aimed at a block the instruction does not name."""

    def plan(self, sim, params):
        tp = params["task"]
        return pick_and_place(sim, OTHERS[0], tp["blocks"][OTHERS[0]]["half"], tp["zone"]["xy"], params["table"]["top"])


def test_the_instruction_names_the_block_that_must_go_in_the_zone():
    gen = SimGenerator(SimSettings(task="pick_named", cameras=()))
    for seed in range(3):
        run = gen.simulate(seed)
        blocks = run.params["task"]["blocks"]
        assert run.success and gen.task.placed(run.sim, run.params) == BLOCK
        colours = [b["colour"] for b in blocks.values()]
        assert len(set(colours)) == len(colours) == 3
        named = [c for c in colours if re.search(rf"\b{c}\b", run.params["task"]["instruction"])]
        assert named == [blocks[BLOCK]["colour"]]
    wrong = PicksTheFirstOther()
    for seed in range(3):
        params = gen.scene_params(seed)
        sim = gen.build(params)
        _, ok = Expert(sim, gen.ik(sim)).run(wrong, params)
        assert not ok and wrong.placed(sim, params) == OTHERS[0]
        assert wrong.failure(sim, params) == "placed another block"  # what evaluation reports


def test_held_out_templates_and_their_words_are_not_in_training():
    task = PickNamed()
    words = {w for t in task.templates for w in re.findall(r"[a-z]+", t)}
    for template in task.held_out_templates:
        assert template not in task.templates
        new = set(re.findall(r"[a-z]+", template)) - words - {"colour", "zone"}
        assert new, template
    gen = SimGenerator(SimSettings(task="pick_named", cameras=()))
    shifted = gen.task.sample(np.random.default_rng(0), {**gen.scene_params(0), "shift": {"language": True}})
    assert any(shifted["instruction"].startswith(t.split("{")[0]) for t in task.held_out_templates)

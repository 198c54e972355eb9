"""``after``: a stage that starts once named sinks are finalized, without reading their
episodes (a source reading what a sink wrote: a policy trained by ``train.bc``, a dataset), on
both runners; the sinks' hashes are part of its own."""

from __future__ import annotations

import pytest

from datapipe.engine.plan import plan_run
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from tests.helpers import read_sink


def _doc(tmp, episodes: int = 6) -> dict:
    return {
        "name": "after",
        "stages": [
            {"id": "src", "uses": "source.synthetic", "with": {"episodes": episodes, "episodes_per_shard": 3}},
            {"id": "first", "uses": "sink.webdataset", "needs": ["src"], "with": {"path": str(tmp / "first")}},
            # reads the shards the sink above writes: only possible once it has finalized them
            {"id": "again", "uses": "source.webdataset", "after": ["first"], "with": {"path": str(tmp / "first")}},
            {"id": "copy", "uses": "sink.parquet", "needs": ["again"], "with": {"path": str(tmp / "copy")}},
        ],
    }


@pytest.mark.parametrize("runner", ["local", "ray"])
def test_a_source_after_a_sink_reads_what_it_wrote(runner, tmp_path, request):
    if runner == "ray":
        request.getfixturevalue("ray_session")
    workflow = parse_workflow(_doc(tmp_path), "after.yaml")
    assert [s.id for s in workflow.stages].index("again") > [s.id for s in workflow.stages].index("first")
    result = run_workflow(workflow, out=str(tmp_path / "run"), runner=runner, progress=False)
    assert result.ok, result.error
    assert len(read_sink(tmp_path / "copy")) == 6
    again = run_workflow(workflow, out=str(tmp_path / "run"), runner=runner, progress=False)
    assert again.ok and all(sp.status == "reused" for sp in again.plan.stages)


def test_the_sinks_hash_is_part_of_the_later_stages_hash(tmp_path):
    def hashes(episodes: int) -> dict[str, str]:
        plan = plan_run(parse_workflow(_doc(tmp_path, episodes), "after.yaml"), str(tmp_path / "run"))
        return {sp.spec.id: sp.out_hash for sp in plan.stages}

    a, b = hashes(6), hashes(7)
    assert a["first"] != b["first"] and a["again"] != b["again"] and a["copy"] != b["copy"]

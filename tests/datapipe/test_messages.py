"""Messages that say what happened: counts in the right number, what a deep validation decoded,
an empty val split, and where an expression's syntax breaks."""

from __future__ import annotations

import pytest

from datapipe.cli import main as cli_main
from datapipe.engine.run import run_workflow
from datapipe.engine.workflow import parse_workflow
from datapipe.records.expressions import ExpressionError, compile_expression
from datapipe.stages.sink.webdataset import WebDatasetSink
from datapipe.wording import counted
from tests.helpers import synthetic_shards


def test_counts_take_the_noun_in_the_right_number():
    assert [counted(n, "episode") for n in (0, 1, 2)] == ["0 episodes", "1 episode", "2 episodes"]
    assert counted(1, "shard") == "1 shard" and counted(3, "frame") == "3 frames"


@pytest.fixture(scope="module")
def one_episode(tmp_path_factory):
    source = {"episodes": 1, "min_length": 5, "max_length": 5, "cameras": ["front"], "image_size": [16, 16]}
    return synthetic_shards(tmp_path_factory.mktemp("one"), source)


def test_deep_validation_says_what_it_decoded(one_episode, capsys):
    ds, _ = one_episode
    assert cli_main(["validate-dataset", str(ds), "--deep", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1 shard," in out and "deep: decoded 1 episode and their 1 video(s) strictly (5 frames)" in out
    assert cli_main(["validate-dataset", str(ds), "--no-progress"]) == 0
    assert "--deep also decodes" in capsys.readouterr().out


def test_an_empty_val_split_warns(one_episode):
    _, result = one_episode
    lines = WebDatasetSink.describe(result.plan.get("out").result)
    assert lines[0].startswith("shards: 1 episode, 5 frames in 1 shard ")
    assert lines[-1].startswith("warning: the val split is empty (val_fraction 0.05 of 1 episode picked none)")
    assert not [
        ln for ln in WebDatasetSink.describe({**result.plan.get("out").result, "val_fraction": 0.0}) if "warning" in ln
    ]


@pytest.mark.parametrize(
    "expr,where",
    [("length >", "at the end (column 9"), ("length >= 10 and and success", "at column 18 ('and success')")],
)
def test_an_expression_syntax_error_names_where_it_breaks(expr, where):
    with pytest.raises(ExpressionError, match="invalid syntax") as err:
        compile_expression(expr)
    assert where in str(err.value)


def test_progress_in_a_log_is_plain_lines_with_the_sources_totals(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    monkeypatch.setenv("DATAPIPE_PROGRESS_INTERVAL", "0.05")
    doc = {
        "name": "logged",
        "stages": [
            {"id": "src", "uses": "source.synthetic", "with": {"episodes": 6, "episodes_per_shard": 2}},
            {"id": "slow", "uses": "debug.sleep", "needs": ["src"], "with": {"ms": 50}},
            {"id": "out", "uses": "sink.parquet", "needs": ["slow"], "with": {"path": str(tmp_path / "data")}},
        ],
    }
    log = io.StringIO()  # not a terminal: nohup, CI, tee
    result = run_workflow(
        parse_workflow(doc, "logged.yaml"), out=str(tmp_path / "run"), runner="local", console=Console(file=log)
    )
    assert result.ok, result.error
    lines = log.getvalue().splitlines()
    assert "src: 6/6 in, 6 out, 0 failed, 0:00 done" in lines, lines
    assert any(line.startswith("out: 6 in, 6 out, 0 failed") and line.endswith("done") for line in lines)
    assert not any("src (source.synthetic)" in line for line in lines)  # no bars drawn into the log


def test_no_progress_still_says_where_the_sinks_wrote(tmp_path, capsys):
    flow = tmp_path / "quiet.yaml"
    flow.write_text(
        "name: quiet\nstages:\n"
        "  - {id: src, uses: source.synthetic, with: {episodes: 2}}\n"
        f"  - {{id: out, uses: sink.webdataset, needs: [src], with: {{path: {tmp_path / 'ds'}, val_fraction: 0}}}}\n"
    )
    assert cli_main(["run", "--local", "--no-progress", "--out", str(tmp_path / "run"), str(flow)]) == 0
    assert "out shards: 2 episodes" in capsys.readouterr().err

"""Workflow files are validated before anything runs; errors name the file, stage id and field."""

from __future__ import annotations

import pytest

from datapipe.cli import main
from datapipe.engine.workflow import WorkflowError, load_workflow, parse_workflow

GOOD = """
name: ok
stages:
  - id: src
    uses: source.synthetic
    with: {episodes: 4}
  - id: keep
    uses: filter.expr
    needs: [src]
    with: {expr: "length > 3"}
  - id: out
    uses: sink.parquet
    needs: [keep]
    with: {path: out}
"""

BAD = {
    "unknown stage": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetik}
        """,
        "src",
        "uses",
        "unknown stage 'source.synthetik'; did you mean source.synthetic",
    ),
    "unknown parameter": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetic, with: {episodez: 3}}
        """,
        "src",
        "with.episodez",
        "unknown parameter 'episodez'",
    ),
    "ill-typed parameter": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetic, with: {episodes: many}}
        """,
        "src",
        "with.episodes",
        "expected int, got 'many'",
    ),
    "missing required parameter": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetic}
          - {id: f, uses: filter.expr, needs: [src]}
        """,
        "f",
        "with.expr",
        "missing required parameter 'expr'",
    ),
    "invalid parameter value": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetic}
          - {id: f, uses: filter.expr, needs: [src], with: {expr: "import os"}}
        """,
        "f",
        "with.expr",
        "invalid expression",
    ),
    "unknown needs": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetic}
          - {id: f, uses: filter.expr, needs: [sorce], with: {expr: "True"}}
        """,
        "f",
        "needs",
        "unknown stage id 'sorce'",
    ),
    "cycle": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetic}
          - {id: a, uses: filter.expr, needs: [src, b], with: {expr: "True"}}
          - {id: b, uses: filter.expr, needs: [a], with: {expr: "True"}}
        """,
        "a",
        "needs",
        "cycle: a -> b -> a",
    ),
    "duplicate id": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetic}
          - {id: src, uses: source.synthetic}
        """,
        "src",
        "id",
        "duplicate stage id",
    ),
    "unknown stage field": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetic, concurency: 2}
        """,
        "src",
        "concurency",
        "unknown field",
    ),
    "bad concurrency type": (
        """
        name: w
        stages:
          - {id: src, uses: source.synthetic, concurrency: lots}
        """,
        "src",
        "concurrency",
        "is not valid",
    ),
    "source with needs": (
        """
        name: w
        stages:
          - {id: a, uses: source.synthetic}
          - {id: b, uses: source.synthetic, needs: [a]}
        """,
        "b",
        "needs",
        "is a source and takes no needs",
    ),
    "transform without needs": (
        """
        name: w
        stages:
          - {id: f, uses: filter.expr, with: {expr: "True"}}
        """,
        "f",
        "needs",
        "needs an upstream stage",
    ),
    "consuming a sink": (
        """
        name: w
        stages:
          - {id: a, uses: source.synthetic}
          - {id: s, uses: sink.parquet, needs: [a], with: {path: x}}
          - {id: f, uses: filter.expr, needs: [s], with: {expr: "True"}}
        """,
        "f",
        "needs",
        "is a sink",
    ),
    "after names an unknown stage": (
        """
        name: w
        stages:
          - {id: a, uses: source.synthetic, after: [nope]}
        """,
        "a",
        "after",
        "unknown stage id 'nope'",
    ),
    "after names a transform": (
        """
        name: w
        stages:
          - {id: a, uses: source.synthetic}
          - {id: f, uses: filter.expr, needs: [a], with: {expr: "True"}}
          - {id: b, uses: source.synthetic, after: [f]}
        """,
        "b",
        "after",
        "after names sinks",
    ),
    "a cycle through after": (
        """
        name: w
        stages:
          - {id: a, uses: source.synthetic, after: [s]}
          - {id: s, uses: sink.parquet, needs: [a], with: {path: x}}
        """,
        "a",
        "needs",
        "cycle: a -> s -> a",
    ),
    "missing uses": (
        """
        name: w
        stages:
          - {id: a}
        """,
        "a",
        "uses",
        "is required",
    ),
}


def test_good_workflow_validates(write_workflow, capsys):
    path = write_workflow(GOOD)
    assert main(["validate", str(path)]) == 0
    assert "src -> keep -> out" in capsys.readouterr().out


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_workflow_exits_2_naming_file_stage_and_field(case, write_workflow, capsys):
    text, stage_id, field, message = BAD[case]
    path = write_workflow(text)
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    err = info.value
    assert (err.file, err.stage_id, err.field) == (str(path), stage_id, field)
    assert message in str(err)
    assert main(["validate", str(path)]) == 2
    stderr = capsys.readouterr().err
    assert str(path) in stderr and repr(stage_id) in stderr and repr(field) in stderr
    assert main(["run", str(path), "--local", "--no-progress"]) == 2


def test_not_yaml_and_missing_file(write_workflow, tmp_path, capsys):
    path = write_workflow("name: [unclosed\n")
    assert main(["validate", str(path)]) == 2
    assert "not valid YAML at line" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_set_overrides_are_typed_and_checked(write_workflow):
    path = write_workflow(GOOD)
    wf = load_workflow(path, ["src.episodes=7", "keep.expr=length > 5"])
    assert wf.stage("src").config.episodes == 7
    assert wf.stage("keep").config.expr == "length > 5"
    with pytest.raises(WorkflowError, match="expected int"):
        load_workflow(path, ["src.episodes=seven"])
    with pytest.raises(WorkflowError, match="no stage with id 'nope'"):
        load_workflow(path, ["nope.x=1"])


def test_stages_command_lists_and_describes(capsys):
    assert main(["stages"]) == 0
    listing = capsys.readouterr().out
    for name in ("source.synthetic", "filter.expr", "sink.parquet"):
        assert name in listing
    assert main(["stages", "source.synthetic"]) == 0
    out = capsys.readouterr().out
    assert "episodes per shard" in out and "in stages/source/synthetic.py" in out
    assert main(["stages", "nope.stage"]) == 2


def test_every_parameter_of_every_stage_has_help():
    from datapipe.config import describe_fields
    from datapipe.engine.registry import default_registry

    registry = default_registry()
    empty = [
        (n, f["name"])
        for n in registry.names()
        for f in describe_fields(registry.get(n).Config)
        if not f["help"].strip()
    ]
    assert not empty, f"parameters without help text: {empty}"


def test_inherited_settings_keep_their_help_and_enumerations_list_their_values(write_workflow, capsys):
    from datapipe.cli import main
    from datapipe.config import describe_fields
    from datapipe.stages.retarget.arm_gripper import ArmGripperConfig

    fields = {f["name"]: f for f in describe_fields(ArmGripperConfig)}
    assert "m/s" in fields["max_speed"]["help"] and fields["hand"]["type"] == "one of 'right', 'left'"
    path = write_workflow("""
        name: enum
        stages:
          - id: src
            uses: source.synthetic
            with: {camera_encoding: webp}
    """)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "field 'with.camera_encoding'" in err and "'mp4', 'jpeg'" in err


def test_a_stage_wired_after_the_wrong_upstream_is_refused_before_running(write_workflow, capsys):
    from datapipe.cli import main

    path = write_workflow("""
        name: miswired
        stages:
          - id: walk
            uses: source.synthetic
            with: {cameras: [front]}
          - id: keep
            uses: filter.expr
            needs: [walk]
            with: {expr: "length > 3"}
          - id: arm
            uses: retarget.arm_gripper
            needs: [keep]
    """)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "stage 'arm': field 'needs'" in err and "'keep'" in err and "'hand.right.image'" in err
    # the camera a stage reads is checked too; a fan-in needs it from every input
    path = write_workflow(
        """
        name: camera
        stages:
          - id: a
            uses: source.synthetic
            with: {cameras: [ego]}
          - id: b
            uses: source.synthetic
            with: {cameras: [front]}
          - id: hands
            uses: perception.hand_pose
            needs: [a, b]
    """,
        "cam.yaml",
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "stage 'hands'" in err and "'b'" in err and "camera 'ego'" in err
    # sources whose outputs depend on the data are open: checked when running, not refused
    path = write_workflow(
        """
        name: open
        stages:
          - id: lr
            uses: source.lerobot
            with: {path: /}
          - id: arm
            uses: retarget.arm_gripper
            needs: [lr]
    """,
        "open.yaml",
    )
    assert main(["validate", str(path)]) == 0


def test_every_ready_to_run_workflow_validates_from_any_directory(monkeypatch, tmp_path):
    from tests.conftest import REPO

    monkeypatch.chdir(tmp_path)  # their inputs are relative to the workflow file, not to here
    files = sorted((REPO / "workflows").glob("*.yaml"))
    assert {"demo", "community_mix", "ego_to_robot"} <= {f.stem for f in files}
    for path in files:
        assert load_workflow(path).stages, path


NAMES_AND_TEXT = {
    "duplicate key": (
        "name: w\nstages:\n  - {id: src, uses: source.synthetic, with: {episodes: 3, episodes: 4}}\n",
        None,
        None,
        "key 'episodes' appears twice",
    ),
    "duplicate top-level key": (
        "name: w\nname: v\nstages:\n  - {id: src, uses: source.synthetic}\n",
        None,
        None,
        "key 'name' appears twice (lines 1 and 2)",
    ),
    "long stage id": (
        f"name: w\nstages:\n  - {{id: {'s' * 300}, uses: source.synthetic}}\n",
        None,
        "stages.id",
        "is not a stage id",
    ),
    "NUL in a path": (
        "name: w\nstages:\n  - {id: src, uses: source.synthetic}\n"
        '  - {id: out, uses: sink.parquet, needs: [src], with: {path: "out\\0x"}}\n',
        "out",
        "with.path",
        "holds a NUL character",
    ),
    "workflow name ..": ("name: ..\nstages:\n  - {id: src, uses: source.synthetic}\n", None, "name", "is not a name"),
    "trailing newline in a name": (
        'name: "w\\n"\nstages:\n  - {id: src, uses: source.synthetic}\n',
        None,
        "name",
        "is not a name",
    ),
    "trailing newline in a stage id": (
        'name: w\nstages:\n  - {id: "src\\n", uses: source.synthetic}\n',
        None,
        "stages.id",
        "is not a stage id",
    ),
    "lone surrogate": (
        "name: w\nstages:\n  - {id: src, uses: source.synthetic}\n"
        "  - {id: t, uses: filter.expr, needs: [src], with: {expr: \"task == '\\ud800'\"}}\n"
        "  - {id: out, uses: sink.parquet, needs: [t], with: {path: out}}\n",
        "t",
        "with.expr",
        "lone surrogate (U+D800)",
    ),
}


@pytest.mark.parametrize("case", sorted(NAMES_AND_TEXT))
def test_names_and_text_that_would_break_later_are_refused(case, write_workflow, capsys):
    text, stage_id, field, message = NAMES_AND_TEXT[case]
    path = write_workflow(text)
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    assert (info.value.stage_id, info.value.field) == (stage_id, field), str(info.value)
    assert message in str(info.value)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_lone_surrogate_through_set_is_refused(write_workflow, capsys):
    path = write_workflow(GOOD)
    assert main(["validate", str(path), "--set", "out.path=x\ud800"]) == 2
    assert "lone surrogate" in capsys.readouterr().err


def test_inputs_resolve_against_the_workflow_file_and_outputs_against_the_working_directory(
    tmp_path, monkeypatch, capsys
):
    from tests.conftest import REPO

    folder = tmp_path / "project" / "flows"
    (folder / "datasets").mkdir(parents=True)
    (folder / "datasets" / "arm.yaml").write_text((REPO / "workflows" / "datasets" / "datapipe_arm.yaml").read_text())
    (folder / "clips").mkdir()
    flow = folder / "flow.yaml"
    flow.write_text(
        "name: rel\nstages:\n"
        "  - {id: videos, uses: ingest.video_files, with: {paths: [clips/*.mp4], allow_empty: true}}\n"
        "  - {id: std, uses: standardize.embodiment, needs: [videos], with: {config: datasets/arm.yaml}}\n"
        "  - {id: out, uses: sink.parquet, needs: [std], with: {path: out/rel}}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    wf = load_workflow(flow)
    config = {s.id: s.config for s in wf.stages}
    assert config["videos"].paths == (str(folder / "clips" / "*.mp4"),)
    assert config["std"].config == str(folder / "datasets" / "arm.yaml")
    assert config["out"].path == str(elsewhere / "out" / "rel")  # outputs: where the user is
    (elsewhere / "mine.yaml").write_text((folder / "datasets" / "arm.yaml").read_text())
    wf = load_workflow(flow, ["std.config=mine.yaml"])  # typed in the shell: the working directory's
    assert [s.config.config for s in wf.stages if s.id == "std"] == ["mine.yaml"]
    assert main(["validate", str(flow)]) == 0


def test_validate_names_every_missing_input(tmp_path, capsys):
    flow = tmp_path / "missing.yaml"
    flow.write_text(
        "name: gone\nstages:\n"
        "  - {id: a, uses: source.hdf5, with: {path: nothere.hdf5}}\n"
        "  - {id: b, uses: source.rlds, with: {path: no_rlds}}\n"
        "  - {id: c, uses: ingest.video_files, with: {paths: [no_clips/*.mp4]}}\n"
        "  - {id: out, uses: sink.parquet, needs: [a, b, c], with: {path: out}}\n"
    )
    assert main(["validate", str(flow)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert f"stage 'a': field 'with.path': {tmp_path / 'nothere.hdf5'}: not found" in err
    assert "and 2 more" in err and str(tmp_path / "no_rlds") in err and str(tmp_path / "no_clips" / "*.mp4") in err


def test_a_missing_dataset_config_names_its_field(tmp_path, capsys):
    flow = tmp_path / "std.yaml"
    flow.write_text(
        "name: std\nstages:\n"
        "  - {id: src, uses: source.synthetic}\n"
        "  - {id: std, uses: standardize.embodiment, needs: [src], with: {config: datasets/none.yaml}}\n"
    )
    assert main(["validate", str(flow)]) == 2
    err = capsys.readouterr().err
    assert "field 'with.config'" in err and str(tmp_path / "datasets" / "none.yaml") in err and "with.with" not in err


def test_a_malformed_dataset_config_names_its_field(tmp_path, capsys):
    """The dataset config's own error starts with its path, not a field name: the field is the
    parameter whose value it quotes."""
    (tmp_path / "bad.yaml").write_text("robot: {}\nbogus: 1\n")
    flow = tmp_path / "std.yaml"
    flow.write_text(
        "name: std\nstages:\n"
        "  - {id: src, uses: source.synthetic}\n"
        "  - {id: std, uses: standardize.embodiment, needs: [src], with: {config: bad.yaml}}\n"
    )
    assert main(["validate", str(flow)]) == 2
    err = capsys.readouterr().err
    assert "stage 'std': field 'with.config': " in err and "unknown parameter 'bogus'" in err


def test_stage_order_is_the_files_where_needs_allow_and_cycles_are_named_from_the_first():
    def order(stages: list[dict]) -> list[str]:
        return [s.id for s in parse_workflow({"name": "o", "stages": stages}, "o.yaml").stages]

    def f(sid: str, *needs: str) -> dict:
        return {"id": sid, "uses": "filter.expr", "needs": list(needs), "with": {"expr": "True"}}

    src = {"id": "src", "uses": "source.synthetic"}
    assert order([src, f("b", "src"), f("a", "src"), f("c", "a", "b")]) == ["src", "b", "a", "c"]
    assert order([f("c", "a"), f("a", "src"), src]) == ["src", "a", "c"]  # needs first, else file order
    long = [src, *(f(f"s{i}", f"s{i - 1}" if i else "src") for i in range(3000))]
    assert order(long[::-1])[-1] == "s2999"  # no recursion limit
    with pytest.raises(WorkflowError, match=r"stage 'x': field 'needs': cycle: x -> z -> y -> x"):
        order([src, f("x", "z"), f("y", "x", "src"), f("z", "y")])

"""The trainer's choice of observations when no flag names them (datapipe.training.inputs)."""

from datapipe.training.inputs import choose_observations, describe_choice


def _features(arrays=(), videos=()):
    return {
        **{a: {"kind": "array"} for a in ("observation.state", "action", *arrays)},
        **{v: {"kind": "video"} for v in videos},
    }


def test_the_task_state_comes_first_with_the_pose_and_time_it_is_trained_with():
    choice = choose_observations(_features(("task.state", "ee.pose", "timestamp", "object.poses"), ("front", "wrist")))
    assert choice.state_keys == ("task.state", "ee.pose", "timestamp") and choice.camera == ""
    assert describe_choice(choice).startswith("observing observation.state + task.state + ee.pose + timestamp (")


def test_object_poses_stand_in_for_the_task_state_with_only_what_the_dataset_has():
    choice = choose_observations(_features(("object.poses", "timestamp")))
    assert choice.state_keys == ("object.poses", "timestamp")


def test_without_scene_state_the_scene_camera_not_the_wrist():
    for videos, camera in (
        (("wrist", "front"), "front"),
        (("gripper_cam", "agentview"), "agentview"),
        (("wrist",), "wrist"),
    ):
        choice = choose_observations(_features(("timestamp",), videos))
        assert choice.state_keys == () and choice.camera == camera, videos
        assert f"camera {camera}" in describe_choice(choice)


def test_nothing_that_sees_the_scene_is_a_warning():
    choice = choose_observations(_features(("timestamp",)))
    assert choice.state_keys == () and choice.camera == ""
    assert "warning: the policy sees only the robot's own state" in describe_choice(choice)


def test_every_trainer_setting_is_a_train_flag_with_its_help_and_the_stage_shares_them():
    from dataclasses import fields

    from datapipe.cli import _parser
    from datapipe.config import field_help
    from datapipe.stages.train.bc import TrainBcConfig
    from datapipe.training.trainer import TrainConfig, TrainSettings

    sub = next(a for a in _parser()._actions if a.dest == "command").choices["train"]
    flags = {a.dest: a for a in sub._actions}
    helps = field_help(TrainConfig)
    for f in fields(TrainConfig):
        assert f.name in flags and helps[f.name] in (flags[f.name].help or ""), f.name
    settings = {f.name: f.default for f in fields(TrainSettings)}
    assert {f.name: f.default for f in fields(TrainBcConfig) if f.name in settings} == settings
    assert TrainBcConfig(path="x", steps=5).lr_schedule == "cosine"

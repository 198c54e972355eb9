"""The default robot: Menagerie's Franka Panda (from the gym-hil wheel), found offline, colliding
with the table, matching the published kinematics, and succeeding at every task."""

from __future__ import annotations

import shutil
from pathlib import Path

import mujoco
import numpy as np
import pytest

from datapipe.generators.generator import SimGenerator, SimSettings
from datapipe.generators.robots.config import RobotConfig, RobotConfigError
from datapipe.generators.robots.menagerie import MenagerieNotFound, gym_hil_assets, menagerie_spec
from datapipe.generators.robots.menagerie_panda import franka_config
from datapipe.generators.robots.registry import load_robot_config, load_robot_spec, resolve_robot
from datapipe.generators.scene import ROBOT_PREFIX
from datapipe.generators.tasks import task_names
from tests.generators.test_robot import PANDA_MDH, _mdh

pytestmark = pytest.mark.skipif(gym_hil_assets() is None, reason="gym-hil (Menagerie's Panda meshes) not installed")


def resolve_robot_from_text(text: str, folder: Path) -> RobotConfig:
    (folder / "robot.yaml").write_text(text)
    return load_robot_config(str(folder / "robot.yaml"))


def _visual_triangles(model: mujoco.MjModel) -> int:
    visual = [
        g
        for g in range(model.ngeom)
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH and model.geom_contype[g] == model.geom_conaffinity[g] == 0
    ]
    return sum(int(model.mesh_facenum[model.geom_dataid[g]]) for g in visual)


def test_the_default_robot_is_menagerie_panda_with_meshes_and_collision_on_every_link():
    robot = resolve_robot("franka_emika_panda")
    assert SimGenerator(SimSettings()).robot == robot == franka_config()
    model = load_robot_spec(robot).compile()
    assert _visual_triangles(model) > 150_000  # full meshes
    for i in range(8):  # every arm link collides
        body = model.body(f"link{i}").id
        geoms = range(model.body_geomadr[body], model.body_geomadr[body] + model.body_geomnum[body])
        assert any(model.geom_contype[g] and model.geom_conaffinity[g] for g in geoms), f"link{i}"
    scene = SimGenerator(SimSettings(task="pick_place")).template().model

    def ancestors(body: int) -> set[str]:
        names = set()
        while body:
            names.add(scene.body(body).name)
            body = scene.body_parentid[body]
        return names

    # the grip site and the wrist camera ride on the hand: below the last arm link
    grip = scene.site_bodyid[scene.site(ROBOT_PREFIX + "grip").id]
    wrist = scene.cam_bodyid[scene.camera(ROBOT_PREFIX + "wrist").id]
    assert ROBOT_PREFIX + "link7" in ancestors(grip) and ROBOT_PREFIX + "link7" in ancestors(wrist)
    # the torque motors became position servos
    act = model.actuator("actuator1")
    assert act.biastype == mujoco.mjtBias.mjBIAS_AFFINE and act.gainprm[0] > 0 and act.biasprm[1] < 0


def test_menagerie_arm_matches_the_published_kinematics():
    model = load_robot_spec(franka_config()).compile()
    data = mujoco.MjData(model)
    rng = np.random.default_rng(1)
    for _ in range(5):
        q = rng.uniform(model.jnt_range[:7, 0], model.jnt_range[:7, 1])
        data.qpos[:7] = q
        mujoco.mj_kinematics(model, data)
        T = np.eye(4)
        for (a, d, alpha), theta in zip(PANDA_MDH, q):
            T = T @ _mdh(a, d, alpha, theta)
        link7 = data.body("link7")
        np.testing.assert_allclose(link7.xpos, T[:3, 3], atol=1e-6)
        np.testing.assert_allclose(link7.xmat.reshape(3, 3), T[:3, :3], atol=1e-6)


def test_unknown_menagerie_robot_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("DATAPIPE_MENAGERIE", raising=False)
    with pytest.raises(MenagerieNotFound, match="mujoco-menagerie|DATAPIPE_MENAGERIE"):
        menagerie_spec("no_such_robot_anywhere")
    with pytest.raises(RobotConfigError, match="needs arm_joints"):
        resolve_robot_from_text("menagerie: unitree_z1\n", tmp_path)
    with pytest.raises(RobotConfigError, match="neither a built-in robot"):
        resolve_robot("franka")


def test_menagerie_config_resolves_a_local_folder(tmp_path, monkeypatch):
    """``menagerie: <folder>`` (relative to the YAML) and ``$DATAPIPE_MENAGERIE/<name>`` both load."""
    assets = gym_hil_assets()
    local = tmp_path / "models" / "franka_emika_panda"
    local.mkdir(parents=True)
    shutil.copy(assets / "panda.xml", local / "panda.xml")
    for sub in ("franka_emika_panda", "robotiq_2f85"):
        (local / sub).symlink_to(assets / sub)
    robot = resolve_robot_from_text("menagerie: models/franka_emika_panda\n", tmp_path)
    assert robot.menagerie == str(local) and robot.ee_site == "grip"
    assert load_robot_spec(robot).compile().nu == 8
    monkeypatch.setenv("DATAPIPE_MENAGERIE", str(tmp_path / "models"))
    from datapipe.generators.robots.menagerie import find_menagerie_mjcf

    assert find_menagerie_mjcf("franka_emika_panda") == local / "panda.xml"


def test_arm_driven_into_the_table_stops_on_contact():
    gen = SimGenerator(SimSettings(task="pick_place"))
    params = gen.scene_params(0)
    params["distractors"] = []
    sim = gen.build(params)
    ik = gen.ik(sim)
    top = params["table"]["top"]
    from datapipe.generators.geometry import top_down_quat

    # a target 6 cm inside the table top, reached in joint space without regard for the table
    target = ik.solve(sim.data.qpos, np.array([0.5, 0.1, top - 0.06]), top_down_quat(0.0)).q
    start = sim.arm_q()
    table = sim.model.geom("table").id
    deepest = 0.0
    for k in range(1, 61):
        sim.control_step(start + min(k / 40, 1.0) * (target - start), sim.robot.gripper_open)
        for c in sim.data.contact[: sim.data.ncon]:
            if table in (c.geom1, c.geom2):
                deepest = min(deepest, c.dist)
    assert deepest < 0.0, "the gripper never touched the table"
    assert deepest > -0.005, f"penetrated the table by {-deepest * 1000:.1f} mm"


def test_reduced_meshes_leave_the_physics_unchanged():
    full = SimGenerator(SimSettings(task="push", mesh_detail="full"))
    reduced = SimGenerator(SimSettings(task="push", mesh_detail="reduced"))
    mf, mr = full.template().model, reduced.template().model
    assert np.array_equal(mf.body_mass, mr.body_mass) and np.array_equal(mf.body_inertia, mr.body_inertia)
    assert _visual_triangles(mr) < _visual_triangles(mf) / 3
    a, b = full.simulate(5), reduced.simulate(5)
    assert all(np.array_equal(x, y) for x, y in zip(a.recording.arrays().values(), b.recording.arrays().values()))


def _success_rate(task: str, seeds: list[int]) -> list[bool]:
    gen = SimGenerator(SimSettings(task=task))
    return [gen.simulate(s).success for s in seeds]


@pytest.mark.slow
def test_expert_succeeds_with_the_panda_on_95_percent_of_50_seeds_per_task(ray_session):
    ray = ray_session
    remote = ray.remote(num_cpus=1)(_success_rate)
    jobs = {
        (task, half): remote.remote(task, list(range(1000 + half, 1050, 2))) for task in task_names() for half in (0, 1)
    }
    results = {key: ray.get(ref) for key, ref in jobs.items()}
    for task in task_names():
        ok = sum(results[(task, 0)]) + sum(results[(task, 1)])
        assert ok >= 48, f"{task}: {ok}/50 with the Panda"

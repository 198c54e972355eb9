"""Simulated demonstrations: seed -> randomized scene -> scripted expert -> (if successful) rendered episode.

:class:`SimGenerator` holds what a worker builds once: the compiled scene (once per worker, then
edited per episode: :mod:`datapipe.generators.scene_edit`), the IK solver and the renderer;
:meth:`SimGenerator.simulate` runs one seed without rendering and returns the recording and
success; :meth:`SimGenerator.episode` renders a successful one into an :class:`Episode`.
:meth:`SimGenerator.replay` re-simulates a stored episode from its initial state and commands.
The same seed gives a bit-identical episode whatever the worker ran before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import mujoco
import numpy as np

from datapipe.generators.expert import Expert, Recording, sample_style
from datapipe.generators.ik import ArmIK
from datapipe.generators.lod import lod_reduction
from datapipe.generators.randomization import (
    TABLE_HEIGHT,
    RandomizationRanges,
    sample_distractors,
    sample_effects,
    sample_scene,
)
from datapipe.generators.render import RenderQuality, SceneRenderer
from datapipe.generators.robots.config import RobotConfig, arm_gripper_embodiment
from datapipe.generators.robots.menagerie_panda import franka_config
from datapipe.generators.scene import DEFAULT_CAMERAS, ROBOT_PREFIX, build_scene
from datapipe.generators.scene_edit import SceneTemplate, apply_scene, make_template
from datapipe.generators.sim import Sim
from datapipe.generators.tasks import get_task
from datapipe.records import CameraStream, Episode, Source, make_episode_id

GENERATOR_VERSION = "3"
SETTLE_STEPS = 10  # control steps the scene settles (objects come to rest) before recording


@dataclass
class Simulated:
    """One simulated seed: its scene parameters, compiled model, recording and outcome. The model
    is the generator's, edited for this seed until the generator builds another one
    (:meth:`SimGenerator.build` puts a seed's values back)."""

    seed: int
    params: dict[str, Any]
    model: mujoco.MjModel
    recording: Recording
    success: bool
    sim: Sim


@dataclass(frozen=True)
class SimSettings:
    """What every episode of a generator shares."""

    task: str = "pick_place"
    control_fps: float = 20.0
    cameras: tuple[str, ...] = ("front", "wrist")
    image_size: tuple[int, int] = (128, 128)
    camera_poses: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_CAMERAS))
    ranges: RandomizationRanges = RandomizationRanges()
    max_retries: int = 2
    render_quality: RenderQuality = RenderQuality()
    # robot visual meshes: "auto" (reduced by output size on a CPU renderer, full on a GPU),
    # "full" or "reduced" (see generators.lod)
    mesh_detail: str = "auto"
    # scenes and instructions held out from training, for evaluation: none, visual, language or
    # both (see generators.shift)
    shift: str = "none"

    def lod_reduction(self) -> float:
        if self.mesh_detail == "full":
            return 0.0
        if self.mesh_detail == "auto":
            from datapipe.generators.render import software_rendering

            if not software_rendering():
                return 0.0
        elif self.mesh_detail != "reduced":
            raise ValueError(f"mesh_detail must be auto, full or reduced, got {self.mesh_detail!r}")
        return lod_reduction(self.image_size)


class SimGenerator:
    def __init__(self, settings: SimSettings, robot: RobotConfig | None = None):
        self.settings = settings
        self.robot = robot or franka_config()
        self.task = get_task(settings.task)
        self._template: SceneTemplate | None = None
        self._ik: ArmIK | None = None
        self._renderer: SceneRenderer | None = None
        self._scratch: mujoco.MjData | None = None

    # -- scene --------------------------------------------------------------------------------------
    def scene_params(self, seed: int) -> dict[str, Any]:
        """All randomized values of ``seed`` (the episode's ``meta["randomization"]``)."""
        from datapipe.generators.shift import parts, shift_scene

        rng = np.random.default_rng([seed, 17])
        params = sample_scene(rng, self.settings.ranges, self.settings.camera_poses, len(self.robot.arm_joints))
        shift = parts(self.settings.shift)
        if any(shift.values()):
            params["shift"] = shift
        params["task"] = self.task.sample(rng, params)
        region = ((0.3, 0.75), (-0.35, 0.35))
        params["distractors"] = sample_distractors(rng, params.pop("n_distractors"), self.task.keep_out(params), region)
        params["distractor_slots"] = self.settings.ranges.max_distractors
        params["effects"] = sample_effects(np.random.default_rng([seed, 41]), self.settings.ranges)
        if shift["visual"]:  # its own stream: the seed's training draws above stay as they are
            shift_scene(np.random.default_rng([seed, 53]), params, self.settings.ranges, self.settings.camera_poses)
        return params

    def template_params(self) -> dict[str, Any]:
        """Canonical parameters the scene is compiled from once: nominal values, every light and
        distractor slot, and the tallest table (so static bounding volumes hold every episode)."""
        ranges = self.settings.ranges
        rng = np.random.default_rng([0, 17])
        params = sample_scene(rng, replace(ranges, level=0.0), self.settings.camera_poses, len(self.robot.arm_joints))
        params["table"]["top"] = TABLE_HEIGHT + ranges.table_height * max(ranges.level, 0.0)
        params["task"] = self.task.sample(rng, params)
        params["lights"] = params["lights"][:1] * max(1, ranges.max_lights)
        params.pop("n_distractors")
        params["distractors"], params["distractor_slots"] = [], ranges.max_distractors
        return params

    def template(self) -> SceneTemplate:
        """The scene compiled once (per generator, so per worker) from :meth:`template_params`."""
        if self._template is None:
            params = self.template_params()
            model = build_scene(self.robot, params, self.task, self.settings.lod_reduction()).compile()
            ranges = self.settings.ranges
            self._template = make_template(
                model, self.robot, len(params["lights"]), ranges.max_distractors, params["table"]["top"]
            )
            self._scratch = mujoco.MjData(model)
        return self._template

    def build(self, params: dict[str, Any]) -> Sim:
        """The scene of ``params``: the compiled template with ``params`` written in, settled."""
        template = self.template()
        model = apply_scene(template, params, self.task)
        mujoco.mj_setConst(model, self._scratch)
        sim = Sim(model, self.robot, ROBOT_PREFIX, self.settings.control_fps, self.task.objects(params))
        q0 = np.asarray(self.robot.home) + np.asarray(params["robot"]["qpos_noise"])
        sim.set_arm(q0, self.robot.gripper_open)
        for _ in range(SETTLE_STEPS):
            sim.control_step(q0, self.robot.gripper_open)
        sim.data.time = 0.0
        return sim

    # -- episodes -----------------------------------------------------------------------------------
    def simulate(self, seed: int) -> Simulated:
        """Run the expert on ``seed``'s scene, without rendering."""
        params = self.scene_params(seed)
        sim = self.build(params)
        ik = self.ik(sim)
        style = sample_style(np.random.default_rng([seed, 29]), self.settings.ranges.level)
        params["expert_style"] = style.as_meta()
        rec, ok = Expert(sim, ik, self.settings.max_retries, style).run(self.task, params)
        return Simulated(seed, params, sim.model, rec, ok, sim)

    def ik(self, sim: Sim) -> ArmIK:
        """The IK solver of the generator's model (made once)."""
        if self._ik is None or self._ik.model is not sim.model:
            self._ik = ArmIK(sim.model, sim.index, ROBOT_PREFIX + self.robot.ee_site, np.asarray(self.robot.home))
        return self._ik

    def replay(self, params: dict[str, Any], initial_state: np.ndarray, ctrl: np.ndarray) -> bool:
        """Re-simulate from ``initial_state`` applying the recorded ``ctrl`` (T, nu); return success."""
        sim = self.build(params)
        sim.set_state(initial_state)
        for c in ctrl:
            sim.apply_ctrl(c)
        return self.task.success(sim, params)

    def episode(self, run: Simulated, render: bool = True) -> Episode:
        """The :class:`Episode` of a simulated run (cameras rendered when ``render``)."""
        a = run.recording.arrays()
        stats = run.recording.stats
        steps = {
            "observation.state": np.concatenate([a["arm_q"], a["gripper_width"][:, None]], 1).astype(np.float32),
            "action": a["action_joint"].astype(np.float32),
            "action.ee_delta": a["action_ee"].astype(np.float32),
            "ee.pose": np.concatenate([a["ee_pos"], a["ee_quat"]], 1),
            "object.poses": a["object_poses"],
            "task.state": a["task_state"],
            "sim.qpos": a["qpos"],
            "sim.qvel": a["qvel"],
            "sim.ctrl": a["ctrl"],
        }
        meta = {
            "expert": {
                "attempts": stats.attempts,
                "ik_failures": stats.ik_failures,
                "checks_failed": stats.checks_failed,
            },
            "sim": {
                "timestep": run.model.opt.timestep,
                "substeps": run.sim.substeps,
                "mujoco": mujoco.__version__,
                "initial_state": run.recording.initial_state.tolist(),
                "state_spec": "mjSTATE_FULLPHYSICS",
            },
            "render": self.effects(run.params).as_meta() if render else None,
            "action_spaces": {
                "action": "joint position targets (rad) + gripper (1 open, 0 closed)",
                "action.ee_delta": "end-effector delta: position (m) and rotation vector (rad), world frame, + gripper",
            },
        }
        uri = f"sim://{self.task.name}?robot={self.robot.name}"
        return self.sim_episode(run.seed, run.params, steps, run.success, uri, GENERATOR_VERSION, meta, render)

    def sim_episode(
        self,
        seed: int,
        params: dict[str, Any],
        steps: dict[str, np.ndarray],
        success: bool,
        uri: str,
        version: str,
        meta: dict[str, Any],
        render: bool,
    ) -> Episode:
        """A simulated episode, whoever acted (the expert, a policy): ``steps`` (T, ...) with
        ``action`` and ``sim.qpos`` / ``sim.qvel``, plus the timestamps at the control rate, no
        interventions, a reward of 1 on the last step of a success; cameras rendered from the
        recorded states when ``render``; meta with the seed, task, randomization and objects."""

        fps = self.settings.control_fps
        T = len(steps["action"])
        reward = np.zeros(T, dtype=np.float32)
        reward[-1] = 1.0 if success else 0.0
        steps = {
            "timestamp": np.arange(T, dtype=np.float64) / fps,
            **steps,
            "is_intervention": np.zeros(T, dtype=bool),
            "reward": reward,
        }
        cameras = {}
        if render:
            frames = self.render(params, steps["sim.qpos"], steps["sim.qvel"])
            cameras = {c: CameraStream.from_frames(frames[self.camera_name(c)], fps) for c in self.settings.cameras}
        span = f"seed={seed}"
        return Episode(
            episode_id=make_episode_id(uri, span, version),
            source=Source(kind="sim", uri=uri, span=span, licence="generated"),
            embodiment=arm_gripper_embodiment(self.robot, fps),
            task=(params["task"]["instruction"],),
            fps=fps,
            steps=steps,
            cameras=cameras,
            success=success,
            meta={
                "seed": seed,
                "sim_task": self.task.name,
                "randomization": params,
                "objects": list(self.task.objects(params)),
                **meta,
            },
        )

    def render(self, params: dict[str, Any], qpos: np.ndarray, qvel: np.ndarray) -> dict[str, np.ndarray]:
        """Frames ``(T, height, width, 3)`` uint8 per scene camera name of the states ``qpos`` (T, nq)
        in the scene of ``params``, with the generator's renderer (made once, reused)."""
        template = self.template()
        apply_scene(template, params, self.task)
        if self._renderer is None:
            self._renderer = SceneRenderer(template.model, self.settings.image_size, self.settings.render_quality)
        cameras = [self.camera_name(c) for c in self.settings.cameras]
        return self._renderer.render(qpos, qvel, cameras, template.textures_version, self.effects(params))

    def live_frame(self, sim: Sim, params: dict[str, Any], camera: str) -> np.ndarray:
        """A frame ``(height, width, 3)`` uint8 of the running ``sim`` (built by :meth:`build` from
        ``params``, the scene last built) from ``camera``: the renderer draws the sim's own data,
        without editing the scene again (a live view at tens of frames per second)."""
        if self._renderer is None:
            self.render(params, sim.data.qpos[None][:0], sim.data.qvel[None][:0])
        return self._renderer.render_live(
            sim.data, self.camera_name(camera), self.template().textures_version, self.effects(params)
        )

    def segment(self, params: dict[str, Any], qpos: np.ndarray) -> dict[str, np.ndarray]:
        """Segmentation classes ``(T, height, width)`` uint8 per camera of the generator's settings
        (see :mod:`datapipe.generators.views`) for the states ``qpos`` in the scene of ``params``."""
        from datapipe.generators.views import classes_of, geom_classes

        self.render(params, qpos[:0], qpos[:0])  # the scene of params, and the renderer
        template = self.template()
        ids = self._renderer.segment(
            qpos, [self.camera_name(c) for c in self.settings.cameras], template.textures_version
        )
        classes = geom_classes(template.model, self.task.objects(params))
        return {c: classes_of(ids[self.camera_name(c)], classes) for c in self.settings.cameras}

    def effects(self, params: dict[str, Any]) -> RenderQuality:
        """The render quality of an episode: the generator's, plus the episode's drawn effects."""
        q, drawn = self.settings.render_quality, params.get("effects", {})
        return RenderQuality(
            shadows=q.shadows or bool(drawn.get("shadows")),
            reflections=q.reflections or bool(drawn.get("reflections")),
            antialias=q.antialias,
        )

    def has_camera(self, camera: str) -> bool:
        """Whether ``camera`` is a scene camera or a camera of the robot's model."""
        if camera in self.settings.camera_poses:
            return True
        model = self.template().model
        return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, ROBOT_PREFIX + camera) >= 0

    def camera_name(self, camera: str) -> str:
        """Scene camera name: robot cameras carry the robot prefix."""
        if camera in self.settings.camera_poses:
            return camera
        return ROBOT_PREFIX + camera

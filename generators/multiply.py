"""Demo multiplication in the manner of MimicGen (Mandlekar et al., 2023).

A source episode that records end-effector poses (``ee.pose``), object poses (``object.poses``)
and gripper commands (last column of ``action``) is cut into the task's object-centric subtask
segments (:attr:`datapipe.generators.tasks.base.SimTask.segments`) at the gripper's open -> closed switches.
In a new scene (new object poses, new targets), each segment's end-effector poses are carried
into the new frame of the object (or target) the segment is about,

    T_ee_new(t) = T_frame_new  @  inv(T_frame_src)  @  T_ee_src(t),

with the frame pose taken when the segment starts. Only a segment's object-centric part is
replayed: from :data:`APPROACH_STEPS` before its first gripper switch (the descent to the grasp or
to the release) to its end; the free-space motion before it would, carried into the new frame,
swing the arm around the object for nothing. The robot gets from where it is to the first
replayed pose as the expert would, rising first (to that pose's height, if it is higher) and
then moving there, each by smooth interpolation; then it follows the segment with IK, replaying
the source's gripper commands. The new episode is kept when the task's success predicate holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.generators.expert import Expert, Recording
from datapipe.generators.generator import SimGenerator, Simulated
from datapipe.generators.geometry import mat_to_pose, pose_to_mat
from datapipe.generators.tasks.base import ExpertStats, SimTask, Waypoint
from datapipe.records import Episode, Source, make_episode_id

INTERP_STEPS = 30  # control steps of the transit to a segment's first replayed pose
RISE_STEPS = 20  # control steps of the rise before that transit (when the first pose is higher)
APPROACH_STEPS = 25  # source steps replayed before a segment's first gripper switch
MULTIPLY_VERSION = "1"


class MultiplyError(DatapipeError):
    """A source episode lacks what multiplication needs (names the episode and the field)."""


@dataclass(frozen=True)
class SourceSegment:
    name: str
    frame: str
    start: int
    stop: int  # exclusive

    def replayed(self, grip: np.ndarray) -> range:
        """The steps replayed in a new scene: from ``APPROACH_STEPS`` before the segment's first
        gripper switch (open <-> closed, at the 0.5 threshold) to its end; all of it without one."""
        closed = grip[self.start : self.stop] < 0.5
        switches = np.flatnonzero(closed[1:] != closed[:-1])
        if not len(switches):
            return range(self.start, self.stop)
        return range(max(self.start, self.start + int(switches[0]) + 1 - APPROACH_STEPS), self.stop)


def segment_source(ep: Episode, task: SimTask) -> list[SourceSegment]:
    """The source's steps cut into the task's segments at gripper open -> closed switches (a
    segment ends once the gripper has closed and, for the last, at the episode end)."""
    for field in ("ee.pose", "object.poses", "action"):
        if field not in ep.steps:
            raise MultiplyError(f"episode {ep.episode_id}: steps lack {field!r}, needed for multiplication")
    grip = np.asarray(ep.steps["action"])[:, -1]
    closes = [t for t in range(1, len(grip)) if grip[t - 1] > 0.5 >= grip[t]]
    bounds = [0]
    for seg_i in range(len(task.segments) - 1):
        if seg_i < len(closes):
            bounds.append(min(closes[seg_i] + 12, ep.length))  # include the grasp's hold
        else:  # no grasp to cut at (push, say): split evenly
            bounds.append(ep.length * (seg_i + 1) // len(task.segments))
    bounds.append(ep.length)
    return [SourceSegment(s.name, s.frame, bounds[i], bounds[i + 1]) for i, s in enumerate(task.segments)]


def nearest_quarter_turn(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``frame`` (4x4, world) turned about its own z axis by the multiple of 90 degrees that brings
    its yaw closest to ``reference``'s. Task objects are upright boxes, alike every quarter turn
    (as :meth:`SimTask.observation`'s yaw features say): without this, a grasp would be carried
    through up to 180 degrees of needless wrist rotation, and demonstrations of scenes that look
    the same would disagree."""
    yaw = np.arctan2(frame[1, 0], frame[0, 0])
    ref = np.arctan2(reference[1, 0], reference[0, 0])
    k = np.round((ref - yaw) / (np.pi / 2))
    c, s = np.cos(k * np.pi / 2), np.sin(k * np.pi / 2)
    turn = np.eye(4)
    turn[:2, :2] = [[c, -s], [s, c]]
    return frame @ turn


def _source_frame(task: SimTask, ep: Episode, frame: str, t: int) -> np.ndarray:
    kind, _, name = frame.partition(":")
    if kind == "object":
        objects = list(ep.meta["objects"])
        pose = np.asarray(ep.steps["object.poses"])[t, objects.index(name)]
        return pose_to_mat(pose[:3], pose[3:])
    pos, quat = task.frame_pose(None, ep.meta["randomization"], frame)  # targets need no state
    return pose_to_mat(pos, quat)


class DemoMultiplier:
    """Generates new episodes from source episodes in new scenes of ``generator``'s task."""

    def __init__(self, generator: SimGenerator):
        self.generator = generator
        self.task = generator.task

    def generate(self, source: Episode, seed: int) -> Simulated:
        """One attempt: ``source``'s segments replayed in the scene of ``seed``."""
        if source.meta.get("sim_task") not in (None, self.task.name):
            raise MultiplyError(
                f"episode {source.episode_id} is a {source.meta.get('sim_task')} demo, not {self.task.name}"
            )
        segments = segment_source(source, self.task)
        gen = self.generator
        params = gen.scene_params(seed)
        sim = gen.build(params)
        ik = gen.ik(sim)
        expert = Expert(sim, ik)
        expert.command, expert.gripper = sim.arm_q(), 1.0
        expert.observe = lambda s: self.task.observation(s, params)
        rec = Recording(initial_state=sim.get_state(), stats=ExpertStats(attempts=1))
        ee = np.asarray(source.steps["ee.pose"])
        grip = np.asarray(source.steps["action"])[:, -1]
        for seg in segments:
            if seg.frame.startswith("object:"):
                new_pos, new_quat = sim.body_pose(seg.frame.split(":", 1)[1])
            else:
                new_pos, new_quat = self.task.frame_pose(sim, params, seg.frame)
            src_frame = _source_frame(self.task, source, seg.frame, seg.start)
            new_frame = pose_to_mat(new_pos, new_quat)
            if seg.frame.startswith("object:"):
                new_frame = nearest_quarter_turn(new_frame, src_frame)
            relative = new_frame @ np.linalg.inv(src_frame)
            steps = seg.replayed(grip)
            targets = [mat_to_pose(relative @ pose_to_mat(ee[t, :3], ee[t, 3:])) for t in steps]
            if not targets:
                continue
            first_pos, first_quat = targets[0]
            pos, quat = sim.ee_pose()
            if first_pos[2] > pos[2] + 0.02:  # rise before moving over, as the expert does
                expert.go_to(rec, Waypoint(np.array([pos[0], pos[1], first_pos[2]]), quat, expert.gripper, RISE_STEPS))
            expert.go_to(rec, Waypoint(first_pos, first_quat, expert.gripper, INTERP_STEPS))
            for (pos, quat), t in zip(targets[1:], steps[1:]):
                result = ik.solve(sim.data.qpos, pos, quat, max_iters=30)
                if not result.converged:
                    rec.stats.ik_failures += 1
                expert.move(rec, result.q, float(grip[t]), 1, 0)
        expert.record_step(rec, expert.command, expert.gripper)
        ok = self.task.success(sim, params)
        return Simulated(seed, params, sim.model, rec, ok, sim)

    def multiply(self, sources: list[Episode], seeds: list[int]) -> tuple[list[tuple[Simulated, str]], float]:
        """One attempt per seed, sources taken in turn; the successes (with their source id) and
        the generation success rate."""
        kept = []
        for i, seed in enumerate(seeds):
            source = sources[i % len(sources)]
            run = self.generate(source, seed)
            if run.success:
                kept.append((run, source.episode_id))
        return kept, len(kept) / max(1, len(seeds))

    def episode(self, run: Simulated, source_id: str, render: bool = True) -> Episode:
        """A generated run as an episode (``meta["multiplied_from"]`` names its source)."""
        ep = self.generator.episode(run, render=render)
        span = f"seed={run.seed};multiplied_from={source_id}"
        source = Source(kind=ep.source.kind, uri=ep.source.uri, span=span, licence=ep.source.licence)
        return ep.replace(
            episode_id=make_episode_id(ep.source.uri, span, MULTIPLY_VERSION),
            source=source,
            meta={**ep.meta, "multiplied_from": source_id, "generator": "mimicgen-style segment transform"},
        )

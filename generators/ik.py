"""Inverse kinematics of the end-effector site with mink (differential IK as a QP, with joint limits).

:class:`ArmIK` solves for arm joint positions (rad) that put the end-effector site at a world
pose (position in m, quaternion w x y z), warm-started from a given configuration, with a light
posture term toward the robot's home so redundant joints stay sensible. Only the arm joints are
returned; other joints of the model (objects, fingers) are held where they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import mink
import mujoco
import numpy as np

from datapipe.generators.sim import RobotIndex


@dataclass(frozen=True)
class IKResult:
    q: np.ndarray  # arm joint positions, rad
    position_error: float  # m
    orientation_error: float  # rad
    converged: bool


class ArmIK:
    """IK for one compiled model (one per worker; not thread-safe)."""

    def __init__(
        self,
        model: mujoco.MjModel,
        index: RobotIndex,
        ee_site_name: str,
        home: np.ndarray,
        posture_cost: float = 1e-2,
        solver: str = "daqp",
    ):
        self.model, self.index, self.solver = model, index, solver
        self.configuration = mink.Configuration(model)
        self.frame = mink.FrameTask(ee_site_name, "site", position_cost=1.0, orientation_cost=1.0, lm_damping=1e-3)
        self.posture = mink.PostureTask(model, cost=posture_cost)
        self.home = np.asarray(home, dtype=np.float64)
        self.limits = [mink.ConfigurationLimit(model)]
        self.arm_mask = np.zeros(model.nv, dtype=bool)
        self.arm_mask[index.arm_dof] = True

    def solve(
        self,
        q_full: np.ndarray,
        pos: np.ndarray,
        quat: np.ndarray,
        max_iters: int = 150,
        pos_tol: float = 1e-3,
        rot_tol: float = 1e-2,
    ) -> IKResult:
        """Arm joints reaching (``pos``, ``quat``) from the full configuration ``q_full``."""
        q = np.asarray(q_full, dtype=np.float64).copy()
        self.configuration.update(q)
        posture = q.copy()
        posture[self.index.arm_qpos] = self.home
        self.posture.set_target(posture)
        target = mink.SE3.from_rotation_and_translation(
            mink.SO3(np.asarray(quat, dtype=np.float64)), np.asarray(pos, dtype=np.float64)
        )
        self.frame.set_target(target)
        dt = 0.05
        err = self.frame.compute_error(self.configuration)
        for _ in range(max_iters):
            vel = mink.solve_ik(
                self.configuration, [self.frame, self.posture], dt, self.solver, damping=1e-3, limits=self.limits
            )
            vel[~self.arm_mask] = 0.0
            self.configuration.integrate_inplace(vel, dt)
            err = self.frame.compute_error(self.configuration)
            if np.linalg.norm(err[:3]) < pos_tol and np.linalg.norm(err[3:]) < rot_tol:
                break
        q_arm = self.configuration.q[self.index.arm_qpos].copy()
        pe, re = float(np.linalg.norm(err[:3])), float(np.linalg.norm(err[3:]))
        return IKResult(q_arm, pe, re, pe < 5 * pos_tol and re < 5 * rot_tol)

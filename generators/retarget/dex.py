"""Retargeting human hand landmarks onto a dexterous robot hand (vector retargeting).

For each frame, find joint positions ``q`` minimizing

    sum_i || v_robot_i(q) - s * v_human_i ||^2  +  w_smooth * || q - q_prev ||^2

where the vectors run from the wrist and from each knuckle to each fingertip, expressed in each
hand's palm frame (:func:`datapipe.generators.hands.hand_frame.palm_frame`), ``s`` scales the human hand to the
robot's size (``"auto"``: ratio of wrist-to-middle-knuckle lengths), and ``q_prev`` is the
previous frame's solution (warm start and smoothness). Solved by damped Gauss-Newton with MuJoCo's
site Jacobians, clamped to joint limits.

Error measure: mean over frames and fingers of the fingertip-vector error
``|| v_robot_tip(q) - s * v_human_tip ||`` (wrist to tip), in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from datapipe.generators.hands.hand_frame import INDEX_MCP, MIDDLE_MCP, PINKY_MCP, WRIST, palm_frame
from datapipe.generators.robots.dex_hand import HandModelConfig, dex_hand_spec

TIPS = (4, 8, 12, 16, 20)  # MediaPipe landmarks: thumb, index, middle, ring, little tips
KNUCKLES = (1, 5, 9, 13, 17)  # thumb CMC, finger MCPs


@dataclass(frozen=True)
class DexSettings:
    """The per-frame solver: Gauss-Newton on site Jacobians, warm-started."""

    # weight of the smoothness term (pull toward the previous frame's joints)
    w_smooth: float = 1e-3
    # weight of knuckle-to-tip vectors against wrist-to-tip ones
    w_knuckle: float = 0.5
    # solver iterations per frame
    iterations: int = 30
    # Levenberg-Marquardt damping of the normal equations
    damping: float = 1e-4


class DexRetargeter:
    """One hand model and its solver (one per worker)."""

    def __init__(self, hand: HandModelConfig | None = None, settings: DexSettings | None = None):
        self.hand = hand or HandModelConfig()
        self.s = settings or DexSettings()
        spec = mujoco.MjSpec.from_file(self.hand.mjcf) if self.hand.mjcf else dex_hand_spec()
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.wrist = m.site(self.hand.wrist_site).id
        self.tips = [m.site(n).id for n in self.hand.tip_sites]
        self.knuckles = [m.site(n).id for n in self.hand.knuckle_sites]
        self.lo, self.hi = m.jnt_range[:, 0].copy(), m.jnt_range[:, 1].copy()
        self.q0 = np.clip(np.zeros(m.nq), self.lo, self.hi)
        self._forward(self.q0)
        pts = np.zeros((21, 3))
        pts[WRIST] = self.data.site_xpos[self.wrist]
        pts[INDEX_MCP] = self.data.site_xpos[self.knuckles[1]]
        pts[PINKY_MCP] = self.data.site_xpos[self.knuckles[4]]
        self.R = palm_frame(pts)  # robot palm frame in its world frame
        self.palm_length = float(np.linalg.norm(self.data.site_xpos[self.knuckles[2]] - pts[WRIST]))

    def _forward(self, q: np.ndarray) -> None:
        self.data.qpos[:] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)

    def _site_jacobian(self, sid: int) -> np.ndarray:
        """Translational Jacobian (3, nv) of site ``sid`` in the robot palm frame."""
        jac = np.zeros((3, self.model.nv))
        mujoco.mj_jacSite(self.model, self.data, jac, None, sid)
        return self.R.T @ jac

    def _vectors_and_jacobian(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Robot vectors (10, 3) in its palm frame (wrist-to-tip, then knuckle-to-tip) and their
        Jacobian (30, nv): d(tip - origin)/dq = J_tip - J_origin, so knuckle sites on finger links
        (which move with the joints) are handled, not only knuckles fixed on the palm."""
        self._forward(q)
        pos = self.data.site_xpos
        tip_pos = [pos[sid].copy() for sid in self.tips]
        tip_jac = [self._site_jacobian(sid) for sid in self.tips]
        wrist, wrist_jac = pos[self.wrist], self._site_jacobian(self.wrist)
        vecs = [self.R.T @ (p - wrist) for p in tip_pos]
        vecs += [self.R.T @ (p - pos[k]) for p, k in zip(tip_pos, self.knuckles)]
        jacs = [j - wrist_jac for j in tip_jac]
        jacs += [j - self._site_jacobian(k) for j, k in zip(tip_jac, self.knuckles)]
        return np.asarray(vecs), np.concatenate(jacs, axis=0)

    def robot_tip_vectors(self, q: np.ndarray) -> np.ndarray:
        """Wrist-to-tip vectors (5, 3), robot palm frame, at ``q``."""
        return self._vectors_and_jacobian(q)[0][:5]

    @staticmethod
    def human_vectors(world: np.ndarray) -> np.ndarray:
        """Wrist-to-tip and knuckle-to-tip vectors (10, 3) of landmarks (21, 3), human palm frame."""
        R = palm_frame(world)
        v = [R.T @ (world[t] - world[WRIST]) for t in TIPS] + [
            R.T @ (world[t] - world[k]) for t, k in zip(TIPS, KNUCKLES)
        ]
        return np.asarray(v)

    def scale_for(self, worlds: np.ndarray) -> float:
        """Robot palm length over the human's (median over frames)."""
        human = np.linalg.norm(worlds[:, MIDDLE_MCP] - worlds[:, WRIST], axis=1)
        return float(self.palm_length / np.median(human[np.isfinite(human)]))

    def solve(self, target: np.ndarray, q_prev: np.ndarray) -> np.ndarray:
        """Joints matching target vectors (10, 3) (already scaled), from ``q_prev``."""
        s = self.s
        w = np.r_[np.ones(15), np.full(15, np.sqrt(s.w_knuckle))]
        q = q_prev.copy()
        for _ in range(s.iterations):
            v, J = self._vectors_and_jacobian(q)
            r = (v - target).reshape(-1) * w
            Jw = J * w[:, None]
            H = Jw.T @ Jw + (s.w_smooth + s.damping) * np.eye(len(q))
            g = Jw.T @ r + s.w_smooth * (q - q_prev)
            dq = -np.linalg.solve(H, g)
            q = np.clip(q + dq, self.lo, self.hi)
            if np.linalg.norm(dq) < 1e-5:
                break
        return q

    def retarget(
        self, worlds: np.ndarray, present: np.ndarray, scale: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Joint trajectories (T, nq), per-frame fingertip-vector errors (T,) in m (NaN where no
        hand), and the scale used. Frames without a hand hold the previous solution."""
        scale = scale or self.scale_for(worlds[present])
        T = len(worlds)
        q = np.zeros((T, self.model.nq))
        err = np.full(T, np.nan)
        prev = self.q0.copy()
        for t in range(T):
            if present[t] and np.isfinite(worlds[t]).all():
                target = scale * self.human_vectors(worlds[t])
                prev = self.solve(target, prev)
                err[t] = float(np.linalg.norm(self.robot_tip_vectors(prev) - target[:5], axis=1).mean())
            q[t] = prev
        return q, err, scale

"""Finite-difference checks of the Jacobians the solvers use: the arm IK's end-effector frame task
(mink, on the model the arm retargeter and the expert solve on) and the dexterous retargeter's
vector Jacobian, on the embedded hand and on a configured hand whose knuckle sites sit on finger
links (they move with the joints)."""

from __future__ import annotations

import mink
import numpy as np
import pytest

from datapipe.generators.retarget.arm import ArmRetargeter, ArmRetargetSettings
from datapipe.generators.retarget.dex import DexRetargeter, DexSettings
from datapipe.generators.robots.dex_hand import FINGERS, HandModelConfig, dex_hand_spec


def _fd(f, q: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    cols = []
    for i in range(len(q)):
        dq = np.zeros_like(q)
        dq[i] = eps
        cols.append((f(q + dq) - f(q - dq)).reshape(-1) / (2 * eps))
    return np.stack(cols, axis=1)


def _random_q(d: DexRetargeter, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return d.lo + (d.hi - d.lo) * rng.uniform(0.2, 0.8, len(d.lo))  # inside the limits, away from them


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dexterous_vector_jacobian_matches_finite_differences(seed):
    d = DexRetargeter()
    q = _random_q(d, seed)
    _, J = d._vectors_and_jacobian(q)
    numeric = _fd(lambda x: d._vectors_and_jacobian(x)[0], q)
    assert np.abs(J - numeric).max() < 1e-6


def test_dexterous_jacobian_with_knuckle_sites_on_finger_links(tmp_path):
    """Knuckle sites one segment out (on the proximal links): they move, and the Jacobian of the
    knuckle-to-tip vectors must say so (it used to treat every knuckle as fixed on the palm)."""
    spec = dex_hand_spec()
    for finger in FINGERS:
        joint_bodies = [b for b in spec.bodies if b.name.startswith(f"{finger}_") and b.name != f"{finger}_base"]
        joint_bodies[2].add_site(name=f"{finger}_link_knuckle", pos=[0, 0.005, 0], size=[0.003, 0, 0])
    (tmp_path / "hand.xml").write_text(spec.to_xml())
    hand = HandModelConfig(mjcf=str(tmp_path / "hand.xml"), knuckle_sites=tuple(f"{f}_link_knuckle" for f in FINGERS))
    d = DexRetargeter(hand, DexSettings(w_smooth=1e-6, iterations=100))  # no pull back: reach the pose
    q = _random_q(d, 7)
    vecs, J = d._vectors_and_jacobian(q)
    numeric = _fd(lambda x: d._vectors_and_jacobian(x)[0], q)
    assert np.abs(J - numeric).max() < 1e-6
    knuckle_rows = numeric[15:]
    assert np.abs(knuckle_rows).max() > 0.01  # the knuckle-to-tip vectors do depend on more joints
    # and the solver reaches its own poses through these moving knuckles
    target, _ = d._vectors_and_jacobian(np.clip(d.q0 + 0.3, d.lo, d.hi))
    q_solved = d.solve(target, d.q0)
    assert np.linalg.norm(d._vectors_and_jacobian(q_solved)[0] - target, axis=1).mean() < 0.001


def test_arm_ik_frame_task_jacobian_matches_finite_differences():
    arm = ArmRetargeter(ArmRetargetSettings())
    ik, model = arm.ik, arm.model
    rng = np.random.default_rng(4)
    q = np.zeros(model.nq)
    lo, hi = model.jnt_range[:, 0], model.jnt_range[:, 1]
    limited = model.jnt_limited.astype(bool)
    q[limited] = lo[limited] + (hi[limited] - lo[limited]) * rng.uniform(0.3, 0.7, limited.sum())
    target = mink.SE3.from_rotation_and_translation(mink.SO3.exp(np.array([0.1, -0.2, 0.3])), np.array([0.5, 0.1, 0.4]))
    ik.frame.set_target(target)
    conf = mink.Configuration(model)

    def error(x: np.ndarray) -> np.ndarray:
        conf.update(x)
        return ik.frame.compute_error(conf)

    conf.update(q)
    J = ik.frame.compute_jacobian(conf)
    numeric = _fd(error, q)
    cols = arm.index.arm_dof
    assert model.nq == model.nv  # hinges only: qpos and velocity spaces agree
    assert np.abs(J[:, cols] - numeric[:, cols]).max() < 1e-5
    assert np.abs(J[:, cols]).max() > 0.1  # not a trivial (zero) Jacobian

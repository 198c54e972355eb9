"""Policies that act in datapipe's simulated tasks, behind one interface.

A policy is reset with the instruction and the episode seed, then maps an observation to an
action chunk::

    policy.reset(instruction, seed)
    chunk = policy.act({"observation.state": (S,) float32, "task": str, "step": int, ...})  # (H, A)

Observations follow the recorded episodes: ``observation.state`` is the arm joints (rad) and the
gripper opening (m); actions are the episodes' ``action``: arm joint targets (rad) and the gripper
command (1 open, 0 closed). The evaluator runs the first ``execute`` steps of each chunk, then
asks again. Implementations:

- :class:`ExpertPolicy`: the scripted expert of the task (it simulates the seed on its own copy of
  the scene and plays its commands; ``noise`` rad of Gaussian noise per step makes failures on
  purpose);
- :class:`RandomPolicy`: random joint targets and gripper commands (a baseline);
- :class:`ReplayPolicy`: the actions of a recorded episode;
- :class:`CheckpointPolicy`: a checkpoint of the reference trainer (:mod:`datapipe.training.trainer`);
- :class:`RemotePolicy`: a policy server over WebSocket speaking openpi's protocol (msgpack with
  numpy arrays, :mod:`datapipe.generators.msgpack_numpy`).

:func:`load_policy` makes one from a spec string: ``expert``, ``expert:noise=0.05``, a checkpoint
folder, or a ``ws://host:port`` URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from datapipe.errors import DatapipeError


@dataclass(frozen=True)
class PolicySpec:
    """What a policy reads and returns: observation keys, action size, chunk length."""

    observations: tuple[str, ...] = ("observation.state",)
    action_dim: int = 8
    horizon: int = 1
    execute: int = 0  # actions of a chunk to run before asking again, as trained (0: the whole chunk)
    cameras: tuple[str, ...] = ()  # frames the policy sees, under observation.images.<camera>
    image_size: tuple[int, int] | None = None  # (height, width) of those frames
    render_size: tuple[int, int] | None = None  # (height, width) to render at before resizing to image_size
    # {camera: cameras it was standardized from} (primary <- front): what a simulator renders for it
    camera_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)


class Policy(Protocol):
    spec: PolicySpec

    def reset(self, instruction: str, seed: int) -> None: ...

    def act(self, observation: dict[str, Any]) -> np.ndarray: ...


class ExpertPolicy:
    """The task's scripted expert, replayed open loop from its own simulation of the same seed
    (the simulation is deterministic, so the commands fit the evaluator's scene)."""

    def __init__(self, generator: Any, noise: float = 0.0, noise_seed: int = 0):
        self.generator, self.noise, self.noise_seed = generator, float(noise), noise_seed
        self.spec = PolicySpec(action_dim=len(generator.robot.arm_joints) + 1)
        self.actions = np.zeros((0, self.spec.action_dim))

    def reset(self, instruction: str, seed: int) -> None:
        run = self.generator.simulate(seed)
        self.actions = run.recording.arrays()["action_joint"]
        self.rng = np.random.default_rng([self.noise_seed, seed])
        self.drift = np.zeros(self.actions.shape[1] - 1)

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        t = min(int(observation["step"]), len(self.actions) - 1)
        action = self.actions[t].copy()
        if self.noise > 0:  # a random walk on the arm targets: errors that accumulate, as a poor policy's do
            self.drift += self.rng.normal(0.0, self.noise, self.drift.shape)
            action[:-1] += self.drift
        return action[None]


class RandomPolicy:
    """Uniformly random arm joint targets within the joint limits and a random gripper command:
    the baseline that should not succeed."""

    def __init__(self, generator: Any, seed: int = 0):
        model = generator.template().model
        joints = [model.joint("robot/" + j).id for j in generator.robot.arm_joints]
        self.low, self.high = model.jnt_range[joints].T
        self.spec = PolicySpec(action_dim=len(joints) + 1)
        self.seed = seed

    def reset(self, instruction: str, seed: int) -> None:
        self.rng = np.random.default_rng([self.seed, seed])

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        return np.concatenate([self.rng.uniform(self.low, self.high), [float(self.rng.random() < 0.5)]])[None]


class ReplayPolicy:
    """The actions of a recorded episode, step by step (the last one held)."""

    def __init__(self, actions: np.ndarray):
        self.actions = np.asarray(actions, dtype=np.float64)
        self.spec = PolicySpec(action_dim=self.actions.shape[1])

    def reset(self, instruction: str, seed: int) -> None:
        pass

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        return self.actions[min(int(observation["step"]), len(self.actions) - 1)][None]


class CheckpointPolicy:
    """A checkpoint folder of the reference trainer."""

    def __init__(self, folder: str):
        from datapipe.training.policy import load_checkpoint_policy

        self.model = load_checkpoint_policy(folder)
        cameras = self.model.cameras
        self.spec = PolicySpec(
            action_dim=self.model.action_dim,
            horizon=self.model.horizon,
            execute=self.model.execute,
            cameras=cameras,
            image_size=self.model.image_size if cameras else None,
            render_size=self.model.render_sizes.get(cameras[0], self.model.image_size) if cameras else None,
            camera_sources=self.model.camera_sources,
        )
        self.instruction = ""

    def reset(self, instruction: str, seed: int) -> None:
        self.instruction = instruction

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        return self.model.predict({"task": self.instruction, **observation})


class PolicyError(DatapipeError):
    """A policy that cannot be made from its spec, or a server that answers out of protocol."""


class PolicyConnectError(PolicyError):
    """A policy server that cannot be reached (names the URL)."""


class RemotePolicy:
    """A policy server over WebSocket (openpi's protocol: the server sends its metadata first;
    each request is an msgpack observation, each reply an msgpack dict with ``actions``)."""

    def __init__(self, url: str, timeout_s: float = 30.0):
        from websockets.sync.client import connect

        from datapipe.generators import msgpack_numpy

        self._codec = msgpack_numpy
        try:
            self.connection = connect(url, open_timeout=timeout_s, max_size=None)
        except (OSError, TimeoutError) as exc:
            raise PolicyConnectError(f"policy {url}: cannot connect ({exc}); is the policy server running?") from None
        self.metadata = msgpack_numpy.unpackb(self.connection.recv(timeout=timeout_s))
        self.timeout_s = timeout_s
        self.spec = PolicySpec(
            action_dim=int(self.metadata.get("action_dim", 8)), horizon=int(self.metadata.get("horizon", 1))
        )

    def reset(self, instruction: str, seed: int) -> None:
        self.instruction = instruction

    def act(self, observation: dict[str, Any]) -> np.ndarray:
        request = {k: v for k, v in observation.items()}
        request.setdefault("prompt", getattr(self, "instruction", ""))
        self.connection.send(self._codec.packb(request))
        reply = self._codec.unpackb(self.connection.recv(timeout=self.timeout_s))
        if not isinstance(reply, dict) or "actions" not in reply:
            raise PolicyError(f"policy server answered without 'actions': {str(reply)[:200]}")
        actions = np.asarray(reply["actions"], dtype=np.float64)
        return actions[None] if actions.ndim == 1 else actions

    def close(self) -> None:
        self.connection.close()


def load_policy(spec: str, generator: Any) -> Policy:
    """A policy from ``expert[:noise=X]``, a checkpoint folder, or a ``ws://`` URL."""
    if spec == "expert" or spec.startswith("expert:"):
        options = dict(kv.split("=", 1) for kv in spec.partition(":")[2].split(",") if kv)
        unknown = sorted(set(options) - {"noise"})
        if unknown:
            raise PolicyError(f"policy {spec!r}: unknown options {unknown} (expert:noise=RAD)")
        try:
            noise = float(options.get("noise", 0.0))
        except ValueError:
            raise PolicyError(f"policy {spec!r}: noise must be a number of radians") from None
        return ExpertPolicy(generator, noise)
    if spec == "random":
        return RandomPolicy(generator)
    if spec.startswith(("ws://", "wss://")):
        return RemotePolicy(spec)
    if Path(spec).is_dir():
        return CheckpointPolicy(spec)
    raise PolicyError(f"policy {spec!r}: expected expert, expert:noise=RAD, random, a checkpoint folder or a ws:// URL")

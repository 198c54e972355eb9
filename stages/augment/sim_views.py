"""``augment.sim_views``: new views of simulated episodes, rendered again from their stored
states with new camera poses and visual-only changes, optionally with segmentation masks (see
:mod:`datapipe.generators.views`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from datapipe.augment.derived import augmented
from datapipe.config import check
from datapipe.engine.stage import Resources, Transform, Wiring
from datapipe.records import CameraStream, Episode, RecordError


@dataclass(frozen=True)
class SimViewsConfig:
    # new episodes per simulated input episode
    views: int = 2
    # camera position change, m per axis (uniform +-)
    camera_pos: float = 0.05
    # camera look-at change, m per axis
    camera_lookat: float = 0.03
    # field of view change, degrees
    camera_fovy: float = 5.0
    # draw table and floor textures and colours, lights and distractor colours again
    visuals: bool = True
    # add segmentation.<camera> step arrays (T, H, W) uint8: 0 background, 1 table, 2 robot,
    # 3 task objects and markers, 4 distractors
    segmentation: bool = False
    # pass the input episode on as well
    keep_original: bool = True
    # seed of the view changes (with each episode's id and the view index)
    seed: int = 0
    # robot visual meshes: auto, full or reduced (as generate.sim)
    mesh_detail: Literal["auto", "full", "reduced"] = "auto"

    def __post_init__(self) -> None:
        check(0 <= self.views <= 1000, "views", f"must be within 0..1000, got {self.views}")
        for name in ("camera_pos", "camera_lookat", "camera_fovy"):
            check(getattr(self, name) >= 0, name, f"must be >= 0, got {getattr(self, name)}")


class SimViews(Transform):
    """New views of simulated episodes: the stored states rendered again with new camera poses
    and visual-only changes (textures, colours, lights), optionally with segmentation masks;
    other episodes pass through unchanged."""

    name = "augment.sim_views"
    version = "1"
    Config = SimViewsConfig
    resources = Resources(cpus=1)

    @classmethod
    def produces(cls, config: SimViewsConfig, upstream: Wiring) -> Wiring:
        return upstream.plus(f"segmentation.{c}" for c in upstream.cameras) if config.segmentation else upstream

    def setup(self) -> None:
        self.generators: dict[tuple, Any] = {}

    def _generator(self, ep: Episode) -> Any:
        from datapipe.generators.generator import SimGenerator, SimSettings
        from datapipe.generators.robots.registry import BUILTIN_ROBOTS

        size = next(((c.height, c.width) for c in ep.cameras.values()), (128, 128))
        key = (ep.meta["sim_task"], ep.embodiment.robot, tuple(sorted(ep.cameras)), size, ep.fps)
        if key not in self.generators:
            robot = next((make() for make in BUILTIN_ROBOTS.values() if make().name == ep.embodiment.robot), None)
            if robot is None:
                raise RecordError(f"augment.sim_views: robot {ep.embodiment.robot!r} is not a built-in robot")
            settings = SimSettings(
                task=ep.meta["sim_task"],
                control_fps=ep.fps,
                cameras=tuple(sorted(ep.cameras)),
                image_size=size,
                mesh_detail=self.config.mesh_detail,
            )
            self.generators[key] = SimGenerator(settings, robot)
        return self.generators[key]

    def process(self, episode: Episode) -> Iterable[Episode]:
        from datapipe.generators.views import ViewRanges, sample_view

        if self.config.keep_original:
            yield episode
        if "randomization" not in episode.meta or "sim.qpos" not in episode.steps or not episode.cameras:
            return  # not a rendered simulated episode: nothing to re-render
        c = self.config
        gen = self._generator(episode)
        params = episode.meta["randomization"]
        qpos, qvel = np.asarray(episode.steps["sim.qpos"]), np.asarray(episode.steps["sim.qvel"])
        ranges = ViewRanges(c.camera_pos, c.camera_lookat, c.camera_fovy, c.visuals)
        key = uuid.UUID(episode.episode_id).int % 2**63
        for i in range(c.views):
            view = sample_view(np.random.default_rng([c.seed, key, i]), params, ranges)
            frames = gen.render(view, qpos, qvel)
            cameras = {
                name: CameraStream.from_frames(frames[gen.camera_name(name)], episode.fps)
                for name in gen.settings.cameras
            }
            steps = dict(episode.steps)
            if c.segmentation:
                for name, mask in gen.segment(view, qpos).items():
                    steps[f"segmentation.{name}"] = mask
            changed = {k: view[k] for k in ("cameras", "table", "floor", "lights") if view.get(k) != params.get(k)}
            yield augmented(
                episode,
                self.name,
                self.version,
                i,
                {"seed": c.seed, "view": changed, "segmentation": c.segmentation},
                cameras=cameras,
                steps=steps,
                meta={"randomization": view},
            )

"""``curate.egocentric``: keep clips that look like first-person manipulation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from datapipe.config import narrow
from datapipe.engine.stage import Resources, Transform, Wiring
from datapipe.records import Episode
from datapipe.stages.curate.egocentric.scores import (
    EgoThresholds,
    PersonDetector,
    decide,
    hand_scores,
    sharpness,
)


@dataclass(frozen=True)
class EgocentricConfig(EgoThresholds):
    """The thresholds of :class:`EgoThresholds` (inherited), and what to check them on."""

    # camera whose frames are checked for people and blur
    camera: str = "ego"
    # frames sampled for the face and blur checks
    sample_frames: int = 12
    # keep everything, only record the decision in meta
    annotate_only: bool = False


class Egocentric(Transform):
    """Score a clip (hand presence over time, another person confirmed by face and body evidence,
    hands entering from below and pointing up, hand size, motion per second, sharpness), store
    every score, threshold, test and the reasons in meta.egocentric, and drop clips that fail a
    test (or keep them all with ``annotate_only``)."""

    name = "curate.egocentric"
    version = "2"  # 2: scores per second and per window, person evidence, upright hands
    Config = EgocentricConfig
    resources = Resources(cpus=1)

    @classmethod
    def requires(cls, config: EgocentricConfig) -> Wiring:
        steps = [f"hand.{side}.{f}" for side in ("left", "right") for f in ("image", "present")]
        return Wiring.needs(steps, cameras=(config.camera,))

    def setup(self) -> None:
        self.people = PersonDetector()

    def process(self, episode: Episode) -> Iterable[Episode]:
        c = self.config
        frames = episode.cameras[c.camera].frames()
        idx = np.unique(np.linspace(0, len(frames) - 1, min(c.sample_frames, len(frames))).astype(int))
        scores = hand_scores(dict(episode.steps), frames.shape[1], frames.shape[2])
        scores["face_ratio"], scores["person_ratio"] = self.people.ratios(frames[idx])
        scores["sharpness"] = sharpness(frames[idx])
        decision = decide(scores, narrow(c, EgoThresholds))
        decision["sampled_frames"], decision["camera"] = idx.tolist(), c.camera
        if decision["keep"] or c.annotate_only:
            yield episode.with_meta(egocentric=decision)

"""``retarget.dex_hand``: human hand landmarks to the joints of a dexterous robot hand."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from datapipe.config import check, narrow
from datapipe.engine.stage import Resources, Transform, Wiring
from datapipe.generators.retarget.dex import DexRetargeter, DexSettings
from datapipe.generators.robots.dex_hand import HandModelConfig
from datapipe.records import Embodiment, Episode, RecordError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DexHandConfig(HandModelConfig, DexSettings):
    """The hand model (:class:`HandModelConfig`) and solver (:class:`DexSettings`), inherited."""

    # which human hand
    hand: Literal["right", "left"] = "right"
    # human-to-robot scale of the hand vectors (0 = automatic, from palm lengths)
    scale: float = 0.0
    # make the hand joints the episode's action and state (otherwise they are added as dex.qpos)
    as_action: bool = False

    def __post_init__(self) -> None:
        check(self.hand in ("right", "left"), "hand", f"must be right or left, got {self.hand!r}")
        check(len(self.tip_sites) == 5, "tip_sites", "five site names, thumb to little finger")
        check(len(self.knuckle_sites) == 5, "knuckle_sites", "five site names, thumb to little finger")


class DexHand(Transform):
    """Per-frame vector retargeting of fingertip and knuckle vectors onto a dexterous hand
    (warm-started, with a smoothness term); steps dex.qpos and dex.tip_error, meta.dex_retarget."""

    name = "retarget.dex_hand"
    version = "1"
    Config = DexHandConfig
    resources = Resources(cpus=1)

    @classmethod
    def requires(cls, config: DexHandConfig) -> Wiring:
        return Wiring.needs(f"hand.{config.hand}.{f}" for f in ("world", "present"))

    @classmethod
    def produces(cls, config: DexHandConfig, upstream: Wiring) -> Wiring:
        return upstream.plus(("dex.qpos", "dex.tip_error"))

    def setup(self) -> None:
        c = self.config
        self.retargeter = DexRetargeter(narrow(c, HandModelConfig), narrow(c, DexSettings))

    def process(self, episode: Episode) -> Iterable[Episode]:
        c = self.config
        key = f"hand.{c.hand}"
        if f"{key}.world" not in episode.steps:
            raise RecordError(f"no {key}.* steps: run perception.hand_pose first")
        worlds = np.asarray(episode.steps[f"{key}.world"], np.float64)
        present = np.asarray(episode.steps[f"{key}.present"], bool)
        if not present.any():  # a clip without the hand: filtered with its reason, not a failure
            log.info("%s: dropped by %s: the %s hand is never seen", episode.episode_id, self.name, c.hand)
            return
        q, err, scale = self.retargeter.retarget(worlds, present, c.scale or None)
        m = self.retargeter.model
        names = tuple(m.joint(i).name for i in range(m.njnt))
        steps = {"dex.qpos": q.astype(np.float32), "dex.tip_error": np.nan_to_num(err, nan=-1.0).astype(np.float32)}
        meta = {
            "scale": round(scale, 5),
            "joints": list(names),
            "model": c.mjcf or "embedded 20-joint hand",
            "tip_vector_error_mm": {
                "mean": round(float(np.nanmean(err) * 1000), 3),
                "max": round(float(np.nanmax(err) * 1000), 3),
            },
        }
        episode = episode.with_steps(**steps).with_meta(dex_retarget=meta)
        if c.as_action:
            emb = Embodiment(
                robot="datapipe_dex_hand",
                action_names=names,
                action_units=("rad",) * len(names),
                action_frame="joint",
                state_names=names,
                control_fps=episode.fps,
                action_kinds=("joint_position",) * len(names),
            )
            episode = episode.replace(
                embodiment=emb,
                steps={**episode.steps, "action": q.astype(np.float32), "observation.state": q.astype(np.float32)},
            )
        yield episode

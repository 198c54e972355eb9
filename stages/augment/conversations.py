"""``augment.conversations``: LLaRA-style question-answer pairs from ground truth, kept in
``meta.conversations`` and written as a ``conversations.json`` member of each shard sample (see
:mod:`datapipe.augment.conversations`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from datapipe.augment.conversations import conversations
from datapipe.engine.stage import Resources, Transform
from datapipe.records import Episode


@dataclass(frozen=True)
class ConversationsConfig:
    # keep episodes for which no conversation can be built (no gripper, no success, no poses)
    keep_empty: bool = True


class Conversations(Transform):
    """Add instruction-response pairs built from ground truth (subtask segments at gripper
    events, success, object positions and motion of simulated episodes) to each episode."""

    name = "augment.conversations"
    version = "1"
    Config = ConversationsConfig
    resources = Resources(cpus=0.25)

    def process(self, episode: Episode) -> Iterable[Episode]:
        pairs = conversations(episode)
        if pairs or self.config.keep_empty:
            yield episode.with_meta(conversations=pairs)

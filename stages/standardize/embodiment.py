"""``standardize.embodiment``: one dataset family's episodes into datapipe's convention, by a
declarative config (see :mod:`datapipe.standardize.standard`; configs live in ``workflows/datasets/``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datapipe.config import check
from datapipe.engine.stage import Resources, Transform
from datapipe.records import Episode
from datapipe.standardize.standard import DatasetStandard, StandardizeError, standard_from_dict, standardize


def load_standard(path: str, text: str | None = None) -> DatasetStandard:
    """The dataset config YAML at ``path`` (or its ``text`` as read earlier); errors name the file
    and the field."""
    from datapipe.engine.workflow_yaml import parse_yaml

    if text is None:
        file = Path(path)
        if not file.is_file():
            raise StandardizeError(f"{path}: dataset config not found")
        text = file.read_text()
    doc = parse_yaml(text, path)
    if not isinstance(doc, dict):
        raise StandardizeError(f"{path}: expected a mapping (dataset, cameras, state, action, gripper...)")
    return standard_from_dict(doc, path)


@dataclass(frozen=True)
class StandardizeEmbodimentConfig:
    # the dataset family's config YAML, e.g. workflows/datasets/robomimic.yaml
    config: str

    def __post_init__(self) -> None:
        check(bool(self.config), "config", "give the dataset config YAML (workflows/datasets/<family>.yaml)")
        file = Path(self.config)
        check(file.is_file(), "config", f"{self.config}: dataset config not found")
        # read once, when the workflow is validated: the stage hash and every worker use this text,
        # so a file edited during a run never gives output made from the new text under the old hash
        object.__setattr__(self, "_text", file.read_text())
        load_standard(self.config, self.text)  # a bad config fails at validation, naming its file and field

    @property
    def text(self) -> str:
        """The dataset config's text as read at validation."""
        return self.__dict__["_text"]


class StandardizeEmbodiment(Transform):
    """Standardize a dataset family's episodes: camera roles, state and action selection, action
    space and unit conversions, gripper to [0, 1] (1 = open), no-op steps dropped, one fps and
    image size; every conversion recorded in meta.standardized."""

    name = "standardize.embodiment"
    version = "1"
    Config = StandardizeEmbodimentConfig
    input_fields = ("config",)
    resources = Resources(cpus=1)

    @classmethod
    def fingerprint(cls, config: StandardizeEmbodimentConfig) -> dict[str, Any]:
        """The dataset config's contents: editing the file recomputes the stage."""
        return {"config_sha256": hashlib.sha256(config.text.encode()).hexdigest()}

    def setup(self) -> None:
        self.standard = load_standard(self.config.config, self.config.text)

    def process(self, episode: Episode) -> Iterable[Episode]:
        yield standardize(episode, self.standard)

"""``augment.language``: instruction variants for each episode (see :mod:`datapipe.language.instructions`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from datapipe.config import check
from datapipe.engine.stage import Resources, Transform
from datapipe.records import Episode


@dataclass(frozen=True)
class LanguageConfig:
    # instruction variants added per episode (the original stays first)
    variants: int = 4
    # templates (synonyms and templates kept in the repository), endpoint (an OpenAI-compatible
    # chat endpoint) or local (a transformers causal language model folder); the model's answers
    # are checked, and the templates fill in for rejected ones
    backend: Literal["templates", "endpoint", "local"] = "templates"
    # endpoint: base URL (e.g. http://127.0.0.1:8000/v1)
    rewrite_url: str = ""
    # endpoint: the model name it serves
    rewrite_model: str = ""
    # endpoint: environment variable holding the API key (empty: none)
    rewrite_api_key_env: str = ""
    # local: the model folder
    model_folder: str = ""
    # seed of the template choices (with each episode's id)
    seed: int = 0

    def __post_init__(self) -> None:
        check(0 <= self.variants <= 100, "variants", f"must be within 0..100, got {self.variants}")
        check(self.backend != "endpoint" or bool(self.rewrite_url and self.rewrite_model), "rewrite_url", "needed")
        check(self.backend != "local" or Path(self.model_folder).is_dir(), "model_folder", "a model folder is needed")


class Language(Transform):
    """Add instruction variants to each episode's task (synonyms and templates, or a language model
    whose answers must keep every object of the original); the stream can sample one per sample
    (ShardStream(instruction="sample"))."""

    name = "augment.language"
    version = "1"
    Config = LanguageConfig
    input_fields = ("model_folder",)
    resources = Resources(cpus=1)

    def setup(self) -> None:
        c = self.config
        self.backend = None
        if c.backend == "endpoint":
            from datapipe.language.rewriters import ChatRewriter

            self.backend = ChatRewriter(
                c.rewrite_url,
                c.rewrite_model,
                c.rewrite_api_key_env,
                prompt="Rephrase this robot instruction; keep every object and colour, add none. "
                "Reply with the sentence only.\n\nInstruction: {text}",
            )
        elif c.backend == "local":
            from datapipe.language.rewriters import LocalModelRewriter

            self.backend = LocalModelRewriter(c.model_folder)

    def process(self, episode: Episode) -> Iterable[Episode]:
        from datapipe.language.variants import variants

        original = episode.task[0]
        rng = np.random.default_rng([self.config.seed, uuid.UUID(episode.episode_id).int % 2**63])
        new, record = variants(original, self.config.variants, rng, self.backend)
        tasks = tuple(dict.fromkeys((*episode.task, *new)))
        yield episode.replace(task=tasks).with_meta(language={"original": original, "variants": new, **record})

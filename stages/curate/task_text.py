"""``curate.task_text``: clean task instructions, map them per dataset, flag placeholders, and
optionally rewrite them through an OpenAI-compatible endpoint (see :mod:`datapipe.language.task_text`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from datapipe.config import ConfigError, check
from datapipe.engine.stage import Resources, Transform
from datapipe.language.rewriters import ChatRewriter, RewriteError
from datapipe.language.text import check_rewrite, clean, is_placeholder
from datapipe.records import Episode


@dataclass(frozen=True)
class TaskTextConfig:
    # cleaned task text -> the text to use instead (a per-dataset task map)
    task_map: dict[str, str] = field(default_factory=dict)
    # a YAML file with more of the same mapping
    task_map_file: str = ""
    # names that are placeholders when used as a task (dataset names, for instance)
    dataset_names: tuple[str, ...] = ()
    # drop episodes whose every task is a placeholder (default: keep them, flagged in meta)
    drop_placeholders: bool = False
    # OpenAI-compatible endpoint for rewriting, e.g. http://127.0.0.1:8000/v1 (empty: no rewriting)
    rewrite_url: str = ""
    # model name sent to the endpoint
    rewrite_model: str = ""
    # environment variable holding the endpoint's API key (empty: none)
    rewrite_api_key_env: str = ""

    def __post_init__(self) -> None:
        check(not self.task_map_file or Path(self.task_map_file).is_file(), "task_map_file", "file not found")
        check(not self.rewrite_url or bool(self.rewrite_model), "rewrite_model", "give the model the endpoint serves")


class TaskText(Transform):
    """Clean task texts (case, whitespace, punctuation), apply a per-dataset task map, flag
    placeholders ("null", "task", dataset names...), and rewrite through an OpenAI-compatible
    endpoint where asked, rejecting rewrites that drop or invent objects; the original text
    stays in meta.task_text."""

    name = "curate.task_text"
    version = "1"
    Config = TaskTextConfig
    input_fields = ("task_map_file",)
    resources = Resources(cpus=0.25)

    def setup(self) -> None:
        c = self.config
        mapping = dict(c.task_map)
        if c.task_map_file:
            from datapipe.engine.workflow_yaml import parse_yaml

            doc = parse_yaml(Path(c.task_map_file).read_text(), c.task_map_file) or {}
            if not isinstance(doc, dict):
                raise ConfigError("task_map_file", f"{c.task_map_file}: expected a mapping of task text to replacement")
            mapping.update({str(k): str(v) for k, v in doc.items()})
        self.mapping = {clean(k): v for k, v in mapping.items()}
        self.rewriter = ChatRewriter(c.rewrite_url, c.rewrite_model, c.rewrite_api_key_env) if c.rewrite_url else None
        self.cache: dict[str, tuple[str, dict]] = {}

    def _one(self, text: str) -> tuple[str, dict]:
        if text in self.cache:
            return self.cache[text]
        record: dict = {"original": text}
        cleaned = clean(text)
        if cleaned in self.mapping:
            out = self.mapping[cleaned]
            record["mapped"] = True
        elif is_placeholder(text, self.config.dataset_names):
            out = cleaned
            record["flags"] = ["placeholder"]
        elif self.rewriter is not None:
            try:
                candidate = self.rewriter.rewrite(cleaned)
            except RewriteError as exc:
                candidate, record["rewrite_error"] = None, str(exc)
            if candidate is not None:
                reason = check_rewrite(cleaned, candidate)
                if reason is None:
                    out = clean(candidate)
                    record["rewritten_by"] = self.config.rewrite_model
                else:
                    out = cleaned
                    record["rewrite_rejected"] = f"{candidate!r} {reason}"
            else:
                out = cleaned
        else:
            out = cleaned
        self.cache[text] = (out, record)
        return out, record

    def process(self, episode: Episode) -> Iterable[Episode]:
        results = [self._one(t) for t in episode.task]
        if self.config.drop_placeholders and all("placeholder" in r.get("flags", []) for _, r in results):
            return
        texts = tuple(dict.fromkeys(t for t, _ in results))  # in order, without repeats
        yield episode.replace(task=texts).with_meta(task_text=[r for _, r in results])

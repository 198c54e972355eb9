"""Instruction variants: the same task said differently, never with other objects.

:func:`template_variants` rewrites an instruction from its structure: the verb phrase, the
objects with their colours and the target, recombined through templates and synonym lists kept
here (no WordNet download). Every variant passes :func:`datapipe.language.text.keeps_objects`,
whatever made it; :func:`variants` asks a rewriter (:mod:`datapipe.language.rewriters`) first and
fills the rest from the templates.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from datapipe.language.text import OBJECTS, clean, keeps_objects

# synonyms of verb phrases and relations (one group per line; the first is canonical)
VERB_SYNONYMS = (
    ("pick up", "grab", "grasp", "take", "lift"),
    ("put", "place", "set", "move"),
    ("push", "slide", "shove", "nudge"),
    ("open", "pull open"),
    ("stack", "pile"),
)
RELATIONS = (("in", "into", "inside"), ("on", "onto", "on top of"), ("to", "toward", "over to"))
TEMPLATES = (
    "{text}",
    "please {text}",
    "{text}, please",
    "can you {text}",
    "the robot should {text}",
    "now {text}",
    "your task: {text}",
    "go ahead and {text}",
)


def _swap(text: str, groups: tuple[tuple[str, ...], ...], rng: np.random.Generator) -> str:
    for group in groups:
        for word in sorted(group, key=len, reverse=True):
            pattern = re.compile(rf"\b{re.escape(word)}\b")
            if pattern.search(text):
                text = pattern.sub(group[int(rng.integers(len(group)))], text, count=1)
                break
    return text


def template_variants(instruction: str, n: int, rng: np.random.Generator, attempts: int = 50) -> list[str]:
    """Up to ``n`` distinct variants of ``instruction`` (not the original itself), each keeping its
    objects: synonyms swapped for verbs, objects and relations, then a template around it."""
    base = clean(instruction)
    out: list[str] = []
    for _ in range(attempts * max(n, 1)):
        if len(out) >= n:
            break
        text = _swap(_swap(_swap(base, VERB_SYNONYMS, rng), OBJECTS, rng), RELATIONS, rng)
        text = TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(text=text)
        text = clean(text)
        if text != base and text not in out and keeps_objects(base, text):
            out.append(text)
    return out


def variants(
    instruction: str, n: int, rng: np.random.Generator, backend: Any = None
) -> tuple[list[str], dict[str, Any]]:
    """``n`` variants of ``instruction``: from ``backend.rewrite`` where it keeps the objects,
    the rest from templates; and a record of what the backend gave and what was rejected."""
    record: dict[str, Any] = {"backend": type(backend).__name__ if backend else "templates", "rejected": []}
    out: list[str] = []
    if backend is not None:
        from datapipe.language.rewriters import RewriteError

        for _ in range(n):
            try:
                answer = clean(backend.rewrite(instruction))
            except RewriteError as exc:  # an endpoint down after its retries: the templates take over
                record["rejected"].append(f"error: {exc}")
                break
            if keeps_objects(instruction, answer) and answer not in out and answer != clean(instruction):
                out.append(answer)
            else:
                record["rejected"].append(answer)
    record["from_backend"] = len(out)
    out += [v for v in template_variants(instruction, n - len(out), rng) if v not in out]
    return out[:n], record

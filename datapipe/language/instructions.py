"""Instruction variants: the same task said differently, never with other objects.

:func:`template_variants` rewrites an instruction from its structure: the verb phrase, the
objects with their colours and the target, recombined through templates and synonym lists kept
here (no WordNet download). :func:`keeps_objects` is the check every variant passes, whatever made
it: its object words (:func:`datapipe.language.task_text.object_words`, with synonyms mapped to one word)
must equal the original's. :class:`LocalModelRewriter` asks a local ``transformers`` causal
language model (a folder); :class:`datapipe.language.task_text.ChatRewriter` an OpenAI-compatible
endpoint; their answers are checked the same way, and rejected ones fall back to the templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from datapipe.language.task_text import clean, object_words

# synonyms of verb phrases, objects and relations (one group per line; the first is canonical)
VERBS = (
    ("pick up", "grab", "grasp", "take", "lift"),
    ("put", "place", "set", "move"),
    ("push", "slide", "shove", "nudge"),
    ("open", "pull open"),
    ("stack", "pile"),
)
OBJECTS = (("block", "cube", "brick"), ("cup", "mug"), ("bowl", "dish"), ("zone", "area", "region", "circle"))
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
_CANONICAL = {w: group[0] for group in OBJECTS for w in group}


def canonical_objects(text: str) -> set[str]:
    """Object words of ``text`` with object synonyms mapped to one word each."""
    return {_CANONICAL.get(w, w) for w in object_words(text)}


def keeps_objects(original: str, variant: str) -> bool:
    """Whether ``variant`` names exactly the objects (and colours) of ``original``."""
    v = clean(variant)
    return bool(v) and canonical_objects(original) == canonical_objects(v)


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
        text = _swap(_swap(_swap(base, VERBS, rng), OBJECTS, rng), RELATIONS, rng)
        text = TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(text=text)
        text = clean(text)
        if text != base and text not in out and keeps_objects(base, text):
            out.append(text)
    return out


@dataclass
class LocalModelRewriter:
    """A local ``transformers`` causal language model (a folder with its tokenizer), greedy."""

    folder: str
    max_new_tokens: int = 24

    def __post_init__(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(self.folder)
        self.model = AutoModelForCausalLM.from_pretrained(self.folder)
        self.model.eval()

    def rewrite(self, text: str) -> str:
        import torch

        prompt = f"Rephrase the robot instruction, same objects.\nInstruction: {text}\nRephrased:"
        ids = self.tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            out = self.model.generate(
                **ids,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id or 0,
            )
        answer = self.tokenizer.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)
        return answer.strip().splitlines()[0] if answer.strip() else ""


def variants(
    instruction: str, n: int, rng: np.random.Generator, backend: Any = None
) -> tuple[list[str], dict[str, Any]]:
    """``n`` variants of ``instruction``: from ``backend.rewrite`` where it keeps the objects,
    the rest from templates; and a record of what the backend gave and what was rejected."""
    record: dict[str, Any] = {"backend": type(backend).__name__ if backend else "templates", "rejected": []}
    out: list[str] = []
    if backend is not None:
        for _ in range(n):
            try:
                answer = clean(backend.rewrite(instruction))
            except Exception as exc:  # an endpoint down: the templates take over
                record["rejected"].append(f"error: {exc}")
                break
            if keeps_objects(instruction, answer) and answer not in out and answer != clean(instruction):
                out.append(answer)
            else:
                record["rejected"].append(answer)
    record["from_backend"] = len(out)
    out += [v for v in template_variants(instruction, n - len(out), rng) if v not in out]
    return out[:n], record

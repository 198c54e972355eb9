"""Task (instruction) text: rule-based cleaning, placeholder detection, a per-dataset task map, and
rewriting through an OpenAI-compatible chat endpoint with a check that a rewrite neither drops
nor invents objects.

Cleaning: Unicode whitespace collapsed, lower case, spaces before punctuation removed, trailing
punctuation and repeated punctuation dropped, surrounding quotes removed. A placeholder is an
empty text, a known filler ("null", "task", "default", "do something"...), a dataset's own name,
or text with no letters.

The object check compares *object words*: the words of a text that are not function words or
manipulation verbs (colours count: "red block" is not "blue block"), singular. A rewrite must
keep every object word of the original and add none.
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

PLACEHOLDERS = {
    "",
    "task",
    "todo",
    "tbd",
    "n/a",
    "na",
    "none",
    "null",
    "nan",
    "placeholder",
    "<task>",
    "...",
    "-",
    "instruction",
    "do the task",
    "default task",
    "default",
    "do something",
    "something",
    "test",
    "demo",
    "episode",
}
FUNCTION_WORDS = set(
    "a an the this that these those it its it's them their there here to into onto on in inside out of off from "
    "with without at by for and or then after before while until up down over under near next left right top "
    "bottom side front back of as is are be please can could would should you your my me i we robot arm gripper "
    "hand now task ahead toward towards over".split()
)
VERBS = set(
    "pick picks picked picking place places placed placing put puts putting move moves moved moving push pushes "
    "pushed pushing pull pulls pulled pulling open opens opened opening close closes closed closing grasp grasps "
    "grab grabs grabbed grabbing take takes took taking lift lifts lifted lifting stack stacks stacked stacking "
    "slide slides slid sliding drop drops dropped dropping insert inserts inserted inserting turn turns turned "
    "turning rotate rotates rotated rotating flip flips flipped flipping fold folds folded folding wipe wipes "
    "wiped wiping pour pours poured pouring press presses pressed pressing set sets place get gets bring brings "
    "hold holds holding release releases go goes reach reaches shove shoves nudge nudges pile piles".split()
)


def clean(text: str) -> str:
    """The cleaned form of ``text`` (see the module docstring)."""
    t = unicodedata.normalize("NFKC", str(text))
    t = re.sub(r"\s+", " ", t).strip().strip("\"'`").strip()
    t = t.lower()
    t = re.sub(r"\s+([,.;:!?])", r"\1", t)
    t = re.sub(r"([,.;:!?])\1+", r"\1", t)
    t = re.sub(r"[.;:!?,]+$", "", t).strip()
    return t


def is_placeholder(text: str, dataset_names: tuple[str, ...] = ()) -> bool:
    t = clean(text)
    names = {clean(n) for n in dataset_names if n}
    return t in PLACEHOLDERS or t in names or not re.search(r"[a-z]", t)


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def object_words(text: str) -> set[str]:
    """The object words of ``text`` (see the module docstring)."""
    words = re.findall(r"[a-z0-9]+", clean(text))
    return {_singular(w) for w in words if w not in FUNCTION_WORDS and w not in VERBS}


def check_rewrite(original: str, rewrite: str) -> str | None:
    """None if ``rewrite`` keeps the objects of ``original``; else why it is rejected."""
    before, after = object_words(original), object_words(rewrite)
    dropped, invented = sorted(before - after), sorted(after - before)
    if dropped or invented:
        parts = ([f"drops {dropped}"] if dropped else []) + ([f"invents {invented}"] if invented else [])
        return " and ".join(parts)
    if not clean(rewrite):
        return "is empty"
    return None


@dataclass(frozen=True)
class ChatRewriter:
    """An OpenAI-compatible ``/chat/completions`` endpoint (``base_url`` ends before it, e.g.
    ``http://127.0.0.1:8000/v1``); the API key, if any, is read from the environment variable
    named by ``api_key_env``."""

    base_url: str
    model: str
    api_key_env: str = ""
    timeout_s: float = 30.0
    prompt: str = (
        "Rewrite this robot task instruction as one short, clear imperative sentence. Keep every object and "
        "its colour; add nothing. Reply with the sentence only.\n\nInstruction: {text}"
    )

    def rewrite(self, text: str) -> str:
        import os

        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.prompt.format(text=text)}],
            "temperature": 0,
        }
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env, "") if self.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = self.base_url.rstrip("/") + "/chat/completions"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                doc: dict[str, Any] = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            raise RewriteError(f"{url}: {exc}") from exc
        try:
            return str(doc["choices"][0]["message"]["content"]).strip()
        except (KeyError, IndexError, TypeError):
            raise RewriteError(f"{url}: not a chat completion response: {str(doc)[:200]}") from None


class RewriteError(RuntimeError):
    """The rewriting endpoint failed or answered something else than a chat completion."""

"""Task (instruction) text: rule-based cleaning, placeholder detection, and the one object check
every rewrite and variant passes.

Cleaning: Unicode whitespace collapsed, lower case, spaces before punctuation removed, trailing
punctuation and repeated punctuation dropped, surrounding quotes removed. A placeholder is an
empty text, a known filler ("null", "task", "default", "do something"...), a dataset's own name,
or text with no letters.

The object check compares *object words*: the words of a text that are not function words or
manipulation verbs (colours count: "red block" is not "blue block"), singular, with object
synonyms ("cube" for "block") mapped to one word. A rewrite or variant must keep every object
word of the original and add none.
"""

from __future__ import annotations

import re
import unicodedata

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


# object synonyms (one group per line; the first is canonical)
OBJECTS = (("block", "cube", "brick"), ("cup", "mug"), ("bowl", "dish"), ("zone", "area", "region", "circle"))


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
    """None if ``rewrite`` keeps the objects of ``original`` (synonyms count as one object, as in
    :func:`keeps_objects`); else why it is rejected."""
    before, after = canonical_objects(original), canonical_objects(rewrite)
    dropped, invented = sorted(before - after), sorted(after - before)
    if dropped or invented:
        parts = ([f"drops {dropped}"] if dropped else []) + ([f"invents {invented}"] if invented else [])
        return " and ".join(parts)
    if not clean(rewrite):
        return "is empty"
    return None


_CANONICAL = {w: group[0] for group in OBJECTS for w in group}


def canonical_objects(text: str) -> set[str]:
    """Object words of ``text`` with object synonyms mapped to one word each."""
    return {_CANONICAL.get(w, w) for w in object_words(text)}


def keeps_objects(original: str, variant: str) -> bool:
    """Whether ``variant`` names exactly the objects (and colours) of ``original``."""
    v = clean(variant)
    return bool(v) and canonical_objects(original) == canonical_objects(v)

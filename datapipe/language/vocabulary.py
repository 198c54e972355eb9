"""Instructions as token ids for a policy that reads: lower-case words over a dataset's vocabulary.

:func:`words` splits an instruction into lower-case words (letters and digits; punctuation
dropped). A :class:`Vocabulary` is built from every instruction a dataset holds (its stored
variants included) and saved in a checkpoint as its word list; id 0 pads, id 1 stands for a word
the vocabulary lacks, so an instruction with new words still encodes (to ``<unk>`` where it is new).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

PAD, UNKNOWN = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """``"Put the RED block, please."`` -> ``["put", "the", "red", "block", "please"]``."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Words by id: ``tokens[0]`` is :data:`PAD`, ``tokens[1]`` :data:`UNKNOWN`."""

    tokens: tuple[str, ...]

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> Vocabulary:
        """The words of ``texts`` seen at least ``min_count`` times, most frequent first (ties in
        alphabetical order, so the same texts always give the same ids)."""
        counts = Counter(w for t in texts for w in words(t))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls((PAD, UNKNOWN, *kept))

    def __post_init__(self) -> None:
        if self.tokens[:2] != (PAD, UNKNOWN):
            from datapipe.errors import DatapipeError

            raise DatapipeError(f"a vocabulary starts with {PAD!r}, {UNKNOWN!r}; got {list(self.tokens[:2])}")

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, length: int) -> np.ndarray:
        """``(length,)`` int64 ids of ``text``'s first ``length`` words, padded with 0."""
        index = self._index
        ids = [index.get(w, 1) for w in words(text)[:length]]
        return np.asarray(ids + [0] * (length - len(ids)), dtype=np.int64)

    def encode_batch(self, texts: Iterable[str], length: int) -> np.ndarray:
        """``(N, length)`` int64 ids of each text."""
        rows = [self.encode(t, length) for t in texts]
        return np.stack(rows) if rows else np.zeros((0, length), np.int64)

    def unknown_share(self, text: str) -> float:
        """The share of ``text``'s words the vocabulary lacks (0 for an empty text)."""
        ws = words(text)
        return sum(w not in self._index for w in ws) / len(ws) if ws else 0.0

    @property
    def _index(self) -> dict[str, int]:
        cached = self.__dict__.get("_cached_index")
        if cached is None:
            cached = {w: i for i, w in enumerate(self.tokens)}
            object.__setattr__(self, "_cached_index", cached)
        return cached

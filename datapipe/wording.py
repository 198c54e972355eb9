"""Words of user-facing messages: a count with its noun in the right number."""

from __future__ import annotations

_IRREGULAR = {"episode": "episodes", "shard": "shards", "frame": "frames", "step": "steps", "row": "rows"}


def counted(n: int, noun: str) -> str:
    """``1 episode``, ``2 episodes``, ``0 episodes`` (``noun`` singular; plural by ``s``)."""
    return f"{n} {noun if n == 1 else _IRREGULAR.get(noun, noun + 's')}"

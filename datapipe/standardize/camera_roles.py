"""Camera roles by what camera names mean: ``primary``, ``secondary``, ``wrist`` or ``drop``
(the roles of :mod:`datapipe.standardize.standard`). Used by ``datapipe inspect --draft`` and by
the trainer's choice of a scene camera."""

from __future__ import annotations

WRIST_WORDS = ("wrist", "hand", "gripper", "eef", "ee_cam", "in_hand")
"""Words in a camera's name that mean it rides on the arm (role ``wrist``)."""

PRIMARY_WORDS = ("front", "agentview", "main", "top", "overhead", "high", "exterior", "scene", "base", "third")
"""Words that mean a fixed view of the scene, preferred for ``primary``."""


def camera_roles(names: list[str]) -> dict[str, str]:
    """Roles by what camera names mean: the first name with a wrist word is ``wrist``; of the
    rest, names with a scene word come first (then alphabetical order) for ``primary`` and
    ``secondary``; any other camera is ``drop``."""
    roles: dict[str, str] = {}
    words = {n: n.lower() for n in names}
    wrist = [n for n in sorted(names) if any(w in words[n] for w in WRIST_WORDS)]
    if wrist:
        roles[wrist[0]] = "wrist"
    rest = sorted(
        (n for n in names if n not in roles), key=lambda n: (not any(w in words[n] for w in PRIMARY_WORDS), n)
    )
    for name, role in zip(rest, ("primary", "secondary")):
        roles[name] = role
    return {n: roles.get(n, "drop") for n in sorted(names)}

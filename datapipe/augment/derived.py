"""What every augmented episode carries: a new id, source kind ``augmented``, and a record of
exactly what was changed.

:func:`augmented` derives episode ``index`` of an augmentation stage from its parent: the id is
a uuid5 of the parent id, the stage and the index (re-running gives the same ids); the source
keeps the parent's address and licence, kind ``augmented``; ``meta.augmentation`` holds the
parent id and source kind, the stage and every random parameter, and ``meta.augmentations``
the whole chain when augmentations are stacked. The parent's actions and steps are kept unless
the stage replaces them.
"""

from __future__ import annotations

from typing import Any

from datapipe.records import Episode, Source, make_episode_id


def augmented(parent: Episode, stage: str, version: str, index: int, params: dict[str, Any], **changes: Any) -> Episode:
    """Augmented episode ``index`` of ``stage`` from ``parent`` (``changes``: Episode fields replaced)."""
    record = {
        "parent": parent.episode_id,
        "parent_source_kind": parent.source.kind,
        "stage": stage,
        "index": index,
        "params": params,
    }
    chain = [*parent.meta.get("augmentations", []), record]
    meta = {**parent.meta, **changes.pop("meta", {}), "augmentation": record, "augmentations": chain}
    return parent.replace(
        episode_id=make_episode_id(f"augmented://{parent.episode_id}", f"{stage}#{index}", version),
        source=Source(
            kind="augmented",
            uri=parent.source.uri,
            span=f"{parent.source.span}|{stage}#{index}",
            licence=parent.source.licence,
        ),
        meta=meta,
        **changes,
    )

"""The curation decisions an audit shows: per clip that carries ``meta.egocentric`` (written by
``curate.egocentric``), whether it was kept, the tests it failed with the scores and thresholds
behind them, and a few of the frames the decision looked at."""

from __future__ import annotations

from typing import Any

import numpy as np

from datapipe.audit import pages

MAX_CLIPS = 300  # clips shown in the report (the summary counts all)
FRAMES = 4  # sampled frames shown per clip
FRAME_SIZE = 120  # px, longer side


def clip_record(ep: Any, frames: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """What the report shows of one clip, or None when it carries no curation decision."""
    decision = ep.meta.get("egocentric")
    if not decision:
        return None
    camera = decision.get("camera") or next(iter(frames), None)
    if camera not in frames:  # renamed since (standardize maps cameras to roles): follow the map
        roles = (ep.meta.get("standardized") or {}).get("cameras") or {}
        camera = roles.get(camera, next(iter(frames), None) if len(frames) == 1 else camera)
    thumbs = []
    if camera in frames and len(frames[camera]):
        video = frames[camera]
        sampled = decision.get("sampled_frames") or np.linspace(0, len(video) - 1, FRAMES).astype(int).tolist()
        pick = [sampled[i] for i in np.linspace(0, len(sampled) - 1, min(FRAMES, len(sampled))).astype(int)]
        for t in pick:
            f = video[min(int(t), len(video) - 1)]
            step = max(1, max(f.shape[:2]) // FRAME_SIZE)
            thumbs.append(np.ascontiguousarray(f[::step, ::step]))
    return {
        "episode_id": ep.episode_id,
        "source": ep.source.uri,
        "keep": bool(decision.get("keep")),
        "rejected_by": list(decision.get("rejected_by", [])),
        "why": list(decision.get("why", [])),
        "scores": dict(decision.get("scores", {})),
        "limits": dict(decision.get("score_limits", {})),
        "thumbs": thumbs,
    }


def section(records: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """What ``templates/curation.html.j2`` shows: the counts, then per clip the decision, its
    reasons, each score with the threshold it needed, and its sampled frames as PNG data URIs."""
    return {
        "kept": summary["kept"],
        "clips": summary["clips"],
        "rejected_by": dict(summary["rejected_by"]),
        "records": [
            {
                "episode_id": r["episode_id"],
                "file": r["source"].rsplit("/", 1)[-1],
                "keep": r["keep"],
                "why": r["why"],
                "scores": [
                    {"name": k, "value": f"{v:.3g}", "limit": r.get("limits", {}).get(k)}
                    for k, v in sorted(r["scores"].items())
                ],
                "frames": [pages.png_data_uri(t) for t in r["thumbs"]],
            }
            for r in records
        ],
    }


def render(records: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The report's curation section alone (HTML): one row per clip, the decision and its reasons
    beside its frames."""
    return pages.render("curation.html.j2", curation=section(records, summary))

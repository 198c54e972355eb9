"""The curation decisions an audit shows: per clip that carries ``meta.egocentric`` (written by
``curate.egocentric``), whether it was kept, the tests it failed with the scores and thresholds
behind them, and a few of the frames the decision looked at."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

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


def _png(frame: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def render(records: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The report's section: one row per clip, the decision and its reasons beside its frames."""
    e = html.escape
    rows = []
    for r in records:
        verdict = "<b class='ok'>kept</b>" if r["keep"] else "<b class='error'>rejected</b>"
        why = "<br>".join(e(w) for w in r["why"]) or "every test passed"
        scores = ", ".join(
            f"{e(k)} {v:.3g}" + (f" (needs {e(r['limits'][k])})" if k in r.get("limits", {}) else "")
            for k, v in sorted(r["scores"].items())
        )
        imgs = "".join(f"<img class='thumb' src='{_png(t)}' alt='frame'>" for t in r["thumbs"])
        rows.append(
            f"<tr><td><a href='#ep-{e(r['episode_id'])}'><code>{e(r['episode_id'][:8])}</code></a><br>"
            f"<small>{e(r['source'].rsplit('/', 1)[-1])}</small></td><td>{verdict}</td><td>{why}"
            f"<br><small>{scores}</small></td><td>{imgs}</td></tr>"
        )
    head = (
        f"<p>{summary['kept']} of {summary['clips']} clips kept; rejections by test: "
        + (", ".join(f"{e(k)} {v}" for k, v in summary["rejected_by"].items()) or "none")
        + "</p>"
    )
    return (
        head + "<table><tr><th>clip</th><th>decision</th><th>why (score vs threshold)</th><th>sampled frames</th>"
        "</tr>" + "".join(rows) + "</table>"
    )

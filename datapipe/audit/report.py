"""``report.html``: one self-contained page (plots and thumbnails inlined as PNG data URIs, no
scripts, nothing fetched) from an audit summary and its accumulators.

Sections: headline numbers; findings (each episode id links to its row in the episode table);
plots (length histogram, per-dimension action and state distributions, counts per task and per
source kind, success and intervention rates); a contact sheet per camera; with a comparison
dataset, the differences of the two distributions; the episode table.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

from datapipe.audit import curation
from datapipe.audit.auditor import Auditor
from datapipe.audit.version import describe_version

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
.kpi{display:inline-block;margin:4px 18px 4px 0}.kpi b{font-size:20px;display:block}
table{border-collapse:collapse;width:100%;font-size:13px}
td,th{border:1px solid #e3e3e3;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6}.error{color:#b00020;font-weight:600}.warning{color:#a15c00;font-weight:600}.info{color:#555}
img.plot{max-width:100%;border:1px solid #eee;margin:6px 0}.thumbs img{margin:2px;border:1px solid #ccc}
.thumbs{display:flex;flex-wrap:wrap}figure.thumb{margin:2px;font-size:10px;text-align:center}
.ok{color:#1b7f3a;font-weight:600}code{font-size:12px}
"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(src: str, alt: str, cls: str = "plot") -> str:
    return f'<img class="{cls}" alt="{html.escape(alt)}" src="{src}">'


def _plots(summary: dict[str, Any], auditor: Auditor, other: dict[str, Any] | None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    # labels are data (task strings): "$...$" must not be parsed as TeX math
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    out = []
    lengths = np.array([r["length"] for r in auditor.state.rows])
    fig, ax = plt.subplots(figsize=(7, 3))
    if len(lengths):
        ax.hist(lengths, bins=min(30, max(1, len(set(lengths.tolist())))), color="#3b6ea5", alpha=0.8, label="this")
    if other:
        h = other["length"]["histogram"]
        if h["counts"]:
            ax.stairs(h["counts"], h["edges"], color="#d1495b", label="compared")
        ax.legend()
    ax.set_xlabel("episode length (steps)")
    ax.set_ylabel("episodes")
    ax.set_title("Episode lengths")
    out.append(_img(_png(fig), "episode length histogram"))
    for name in ("action", "observation.state"):
        res = auditor.state.samples.get(name)
        if not res or not res.items:
            continue
        values = np.stack(res.items)
        names = list(auditor.state.dim_names.get(name, ()))
        if len(names) != values.shape[1]:
            names = [f"{name}[{d}]" for d in range(values.shape[1])]
        shown = [d for d in range(values.shape[1]) if np.any(values[:, d] != 0)]  # zero padding left out
        if not shown:
            continue
        fig, ax = plt.subplots(figsize=(min(14, 1.2 + 0.8 * len(shown)), 3.6))
        ax.violinplot([values[:, d] for d in shown], showmedians=True)
        ax.set_xticks(range(1, len(shown) + 1), [names[d] for d in shown], rotation=45, ha="right", fontsize=8)
        padded = values.shape[1] - len(shown)
        ax.set_title(
            f"{name}: distribution per dimension" + (f" ({padded} all-zero dimensions left out)" if padded else "")
        )
        fig.tight_layout()
        out.append(_img(_png(fig), f"{name} per-dimension distributions"))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    tasks = list(summary["counts"]["task"].items())[:15]
    axes[0].barh([_wrapped(t) for t, _ in tasks][::-1], [c for _, c in tasks][::-1], color="#3b6ea5")
    axes[0].tick_params(axis="y", labelsize=7)
    axes[0].set_title("episodes per task (top 15)")
    sources = list(summary["counts"]["source_kind"].items())
    axes[1].bar([s for s, _ in sources], [c for _, c in sources], color="#5c946e")
    axes[1].set_title("episodes per source kind")
    axes[1].tick_params(axis="x", labelrotation=30)
    rates = {"success": summary["success_rate"] or 0.0, "intervention": summary["intervention_rate"]}
    bars = axes[2].bar(list(rates), [100 * v for v in rates.values()], color=["#5c946e", "#d1495b"])
    axes[2].bar_label(bars, labels=[f"{100 * v:.0f}%" for v in rates.values()])
    axes[2].set_ylim(0, 110)
    axes[2].set_ylabel("% of episodes")
    axes[2].set_title("success and intervention rates")
    fig.tight_layout()
    out.append(_img(_png(fig), "counts per task and source, success and intervention rates"))
    return out


def _wrapped(text: str, width: int = 48, lines: int = 3) -> str:
    """A task label on a few lines, whole up to ``width * lines`` characters."""
    import textwrap

    parts = textwrap.wrap(text, width) or [""]
    return "\n".join(parts[:lines]) + ("..." if len(parts) > lines else "")


def _contact_sheets(auditor: Auditor) -> list[str]:
    from PIL import Image

    out = []
    kinds = {r["episode_id"]: r["source_kind"] for r in auditor.state.rows}
    for cam, res in sorted(auditor.state.thumbs.items()):
        imgs = []
        for eid, thumb in res.items:
            buf = io.BytesIO()
            Image.fromarray(thumb).save(buf, format="PNG")
            src = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
            kind = kinds.get(eid, "")
            imgs.append(
                f'<figure class="thumb"><a href="#ep-{html.escape(eid)}">{_img(src, f"{cam} {eid}", "thumb")}</a>'
                f"<figcaption>{html.escape(kind)} <code>{html.escape(eid[:8])}</code></figcaption></figure>"
            )
        out.append(f"<h3>{html.escape(cam)}</h3><div class='thumbs'>{''.join(imgs)}</div>")
    return out


def _compare(summary: dict[str, Any], other: dict[str, Any]) -> str:
    rows = [
        ("episodes", summary["episodes"], other["episodes"]),
        ("frames", summary["frames"], other["frames"]),
        ("hours", summary["hours"], other["hours"]),
        ("mean length", summary["length"]["mean"], other["length"]["mean"]),
        ("success rate", summary["success_rate"], other["success_rate"]),
        ("intervention rate", summary["intervention_rate"], other["intervention_rate"]),
        (
            "distinct instructions",
            summary["language"]["distinct_instructions"],
            other["language"]["distinct_instructions"],
        ),
    ]
    body = "".join(f"<tr><td>{k}</td><td>{a}</td><td>{b}</td></tr>" for k, a, b in rows)
    shifts = []
    for name in ("action", "observation.state"):
        a, b = summary["features"].get(name), other["features"].get(name)
        if a and b and a["dims"] == b["dims"]:
            pooled = np.sqrt((np.asarray(a["std"]) ** 2 + np.asarray(b["std"]) ** 2) / 2) + 1e-12
            d = (np.asarray(a["mean"]) - np.asarray(b["mean"])) / pooled
            shifts.append(f"<tr><td>{name}</td><td>{', '.join(f'{x:+.2f}' for x in d)}</td></tr>")
    tasks = set(summary["counts"]["task"]) ^ set(other["counts"]["task"])
    return (
        f"<table><tr><th></th><th>this dataset</th><th>{html.escape(other['dataset'])}</th></tr>{body}</table>"
        f"<h3>Mean shift per dimension (in pooled standard deviations)</h3><table>{''.join(shifts)}</table>"
        f"<p>Instructions in only one of the two: {len(tasks)}</p>"
    )


def _links(ids: list[str], limit: int = 20) -> str:
    links = " ".join(f'<a href="#ep-{html.escape(i)}">{html.escape(i[:8])}</a>' for i in ids[:limit])
    return links + (" ..." if len(ids) > limit else "")


def render_report(summary: dict[str, Any], auditor: Auditor, other: dict[str, Any] | None = None) -> str:
    """The HTML text of the report."""
    e = html.escape
    kpis = [
        ("episodes", summary["episodes"]),
        ("frames", summary["frames"]),
        ("hours", f"{summary['hours']:.3f}"),
        ("fps", ", ".join(summary["fps"]) or "-"),
        ("success", "-" if summary["success_rate"] is None else f"{100 * summary['success_rate']:.0f}%"),
        ("findings", len(summary["findings"])),
        ("original episodes", summary["augmentation"]["original"]),
        ("augmented episodes", summary["augmentation"]["augmented"]),
    ]
    by_stage = summary["augmentation"]["by_stage"]
    findings = "".join(
        f"<tr><td class='{e(f['severity'])}'>{e(f['severity'])}</td><td>{e(f['kind'])}</td><td>{e(f['message'])}</td>"
        f"<td>{_links(f['episode_ids'])}</td></tr>"
        for f in summary["findings"]
    )
    findings_html = (
        f"<table><tr><th>severity</th><th>kind</th><th>what</th><th>episodes</th></tr>{findings}</table>"
        if findings
        else "<p class='ok'>No findings.</p>"
    )
    flagged = {i for f in summary["findings"] for i in f["episode_ids"]}
    rows = "".join(
        f"<tr id='ep-{e(r['episode_id'])}'><td><code>{e(r['episode_id'])}</code>"
        f"{' ⚠' if r['episode_id'] in flagged else ''}"
        f"</td><td>{e(r['source_kind'])}</td><td>{e(r['task'])}</td><td>{r['length']}</td><td>{r['fps']:g}</td>"
        f"<td>{r['success']}</td></tr>"
        for r in auditor.state.rows[:5000]
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>datapipe audit</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Audit of <code>{e(summary['dataset'])}</code> ({e(summary['format'])})</h1>",
        (
            f"<p class='version'>describes the dataset as of {e(describe_version(summary['dataset_version']))}: "
            "a dataset written there since makes this report stale (run <code>datapipe audit</code> again)</p>"
            if summary.get("dataset_version")
            else ""
        ),
        "".join(f"<span class='kpi'><b>{e(str(v))}</b>{k}</span>" for k, v in kpis),
        (
            "<p>augmented by stage: " + ", ".join(f"{e(k)} {v}" for k, v in by_stage.items()) + "</p>"
            if by_stage
            else ""
        ),
        "<h2>Findings</h2>",
        findings_html,
        "<h2>Distributions</h2>",
        *_plots(summary, auditor, other),
        "<h2>Contact sheet</h2>",
        *(_contact_sheets(auditor) or ["<p>No cameras.</p>"]),
    ]
    if summary.get("curation", {}).get("clips"):
        parts += ["<h2>Egocentric curation</h2>", curation.render(auditor.state.curation, summary["curation"])]
    if other is not None:
        parts += ["<h2>Comparison</h2>", _compare(summary, other)]
    parts += [
        "<h2>Episodes</h2><table><tr><th>episode</th><th>source</th><th>task</th><th>length</th><th>fps</th>"
        f"<th>success</th></tr>{rows}</table>",
        "</body></html>",
    ]
    return "".join(parts)

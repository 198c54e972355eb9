"""``report.html``: one self-contained page (plots and thumbnails inlined as PNG data URIs, no
scripts, nothing fetched) from an audit summary and its accumulators.

Sections: headline numbers; findings (each episode id links to its row in the episode table);
plots (length histogram, per-dimension action and state distributions, counts per task and per
source kind, success and intervention rates); a contact sheet per camera; with a comparison
dataset, the differences of the two distributions; the episode table.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from datapipe.audit import curation, pages
from datapipe.audit.auditor import Auditor
from datapipe.audit.version import describe_version


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(src: str, alt: str) -> dict[str, str]:
    return {"src": src, "alt": alt}


def _plots(summary: dict[str, Any], auditor: Auditor, other: dict[str, Any] | None) -> list[dict[str, str]]:
    """The distribution plots, each ``{"src": PNG data URI, "alt": text}``."""
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


def _contact_sheets(auditor: Auditor) -> list[dict[str, Any]]:
    """Per camera, its sampled thumbnails with the episode and source kind of each."""
    kinds = {r["episode_id"]: r["source_kind"] for r in auditor.state.rows}
    return [
        {
            "camera": cam,
            "thumbs": [
                {"episode_id": eid, "kind": kinds.get(eid, ""), "src": pages.png_data_uri(thumb)}
                for eid, thumb in res.items
            ],
        }
        for cam, res in sorted(auditor.state.thumbs.items())
    ]


def _compare(summary: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """The comparison section: headline numbers side by side, the mean shift of each feature's
    dimensions in pooled standard deviations, and how many instructions only one dataset has."""
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
    shifts = []
    for name in ("action", "observation.state"):
        a, b = summary["features"].get(name), other["features"].get(name)
        if a and b and a["dims"] == b["dims"]:
            pooled = np.sqrt((np.asarray(a["std"]) ** 2 + np.asarray(b["std"]) ** 2) / 2) + 1e-12
            d = (np.asarray(a["mean"]) - np.asarray(b["mean"])) / pooled
            shifts.append((name, ", ".join(f"{x:+.2f}" for x in d)))
    tasks = set(summary["counts"]["task"]) ^ set(other["counts"]["task"])
    return {"dataset": other["dataset"], "rows": rows, "shifts": shifts, "tasks_in_one": len(tasks)}


def render_report(summary: dict[str, Any], auditor: Auditor, other: dict[str, Any] | None = None) -> str:
    """The HTML text of the report (``templates/report.html.j2``)."""
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
    clips = summary.get("curation", {}).get("clips")
    return pages.render(
        "report.html.j2",
        css=pages.stylesheet(),
        summary=summary,
        version=describe_version(summary["dataset_version"]) if summary.get("dataset_version") else None,
        kpis=kpis,
        by_stage=summary["augmentation"]["by_stage"],
        plots=_plots(summary, auditor, other),
        sheets=_contact_sheets(auditor),
        curation=curation.section(auditor.state.curation, summary["curation"]) if clips else None,
        compare=_compare(summary, other) if other is not None else None,
        rows=auditor.state.rows[:5000],
        flagged={i for f in summary["findings"] for i in f["episode_ids"]},
    )

"""Egocentric curation on the labelled development set (``python -m benchmarks ego_curation``):
``workflows/ego_devset.yaml`` over ``../shared/media/ego_devset/`` (``ego/``, ``third_person/``,
``no_hands/``), then per class: how many clips were kept, precision and recall of the decision
(an ``ego`` clip should be kept, the others rejected), whether third-person clips were rejected
for the right reason (a person, face or body test: ``no_person``, ``hands_from_below``,
``hands_upright``, not only motion or hand presence), and every clip's scores.

The baseline in the same run: the same decisions with the face detector alone in place of the
confirmed person (``face_ratio <= max_person_ratio``), what the first version tested.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

DEVSET = Path(__file__).resolve().parents[2] / "shared" / "media" / "ego_devset"
CLASSES = ("ego", "third_person", "no_hands")
RIGHT_REASONS = {"no_person", "hands_from_below", "hands_upright"}


def devset_decisions(devset: Path, out: Path) -> list[tuple[str, str, dict]]:
    """(class, clip file name, meta.egocentric) per clip of ``devset``."""
    from datapipe.engine.run import run_workflow
    from datapipe.engine.workflow import load_workflow
    from datapipe.formats.shards.dataset import ShardDataset

    repo = Path(__file__).resolve().parents[1]
    wf = load_workflow(
        repo / "workflows" / "ego_devset.yaml",
        [f'videos.paths=["{devset}/*/*.mp4"]', f"shards.path={out / 'ds'}"],
    )
    result = run_workflow(wf, out=str(out / "run"), runner="local", progress=False)
    if not result.ok:
        raise RuntimeError(f"the devset run failed: {result.error}")
    rows = []
    for ep in ShardDataset(str(out / "ds")).iter_episodes():
        path = Path(ep.source.uri.split("://", 1)[-1])
        rows.append((path.parent.name, path.name, ep.meta["egocentric"]))
    return sorted(rows)


def main() -> None:
    if not DEVSET.is_dir():
        print(f"ego_curation: skipped: {DEVSET} is absent (the shared media folder)")
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = devset_decisions(DEVSET, Path(tmp))

    def kept_ego(decide) -> tuple[int, int]:
        return sum(decide(d) for c, _, d in rows if c == "ego"), sum(decide(d) for _, _, d in rows)

    def alone(d: dict) -> bool:  # the baseline: the face detector alone decides the person test
        others = [t for t in d["rejected_by"] if t != "no_person"]
        return not others and d["scores"]["face_ratio"] <= d["thresholds"]["max_person_ratio"]

    n_ego = sum(c == "ego" for c, _, _ in rows)
    (ego_kept, kept), (base_ego, base_kept) = kept_ego(lambda d: d["keep"]), kept_ego(alone)
    print(
        f"ego_curation [ego]: kept {ego_kept}/{n_ego} (recall {ego_kept / max(n_ego, 1):.2f}, target >= 0.90; "
        f"precision {ego_kept / max(kept, 1):.2f}); with the face detector alone {base_ego}/{n_ego} "
        f"(precision {base_ego / max(base_kept, 1):.2f})"
    )
    for cls in CLASSES[1:]:
        mine = [d for c, _, d in rows if c == cls]
        rejected = sum(not d["keep"] for d in mine)
        right = sum(bool(RIGHT_REASONS & set(d["rejected_by"])) for d in mine)
        print(
            f"ego_curation [{cls}]: rejected {rejected}/{len(mine)} (recall {rejected / max(len(mine), 1):.2f})"
            + (f"; by a person, face or body test {right}/{len(mine)}" if cls == "third_person" else "")
        )
    for cls, name, d in rows:
        scores = " ".join(f"{k}={v:.3g}" for k, v in sorted(d["scores"].items()))
        verdict = "KEEP" if d["keep"] else "drop " + ",".join(d["rejected_by"])
        print(f"  {cls:12s} {name[:44]:44s} {verdict:50s} {scores}")
    print(f"ego_curation: {time.perf_counter() - started:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()

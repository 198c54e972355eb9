"""Augmentation on the CPU: frames/s of each augmentation stage, and the stream's samples/s with
on-the-fly photometric augmentation against without (same run, same dataset).

Stages run on one simulated pick_place episode (2 cameras, 128x128; segmentation made by
augment.sim_views), one variant each; augment.inpaint with a tiny random pipeline (its speed
says nothing of a real model's; it shows the stage's own overhead)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _rate(stage, episode) -> float:
    stage.setup()
    started = time.perf_counter()
    out = [e for e in stage.process(episode) if e is not episode]
    elapsed = time.perf_counter() - started
    frames = sum(e.length * max(1, len(e.cameras)) for e in out)
    return frames / max(elapsed, 1e-9)


def _stages(tmp: Path) -> None:
    from datapipe.generators.generator import SimGenerator, SimSettings
    from datapipe.stages.augment.background import Background, BackgroundConfig
    from datapipe.stages.augment.conversations import Conversations, ConversationsConfig
    from datapipe.stages.augment.language import Language, LanguageConfig
    from datapipe.stages.augment.photometric import Photometric, PhotometricConfig
    from datapipe.stages.augment.sim_views import SimViews, SimViewsConfig

    gen = SimGenerator(SimSettings(task="pick_place", cameras=("front", "wrist"), image_size=(128, 128)))
    run = next(r for r in (gen.simulate(s) for s in range(10)) if r.success)
    ep = gen.episode(run)
    views = SimViews(SimViewsConfig(views=1, segmentation=True, keep_original=False))
    views.setup()
    views.process(ep).__next__()  # warm up the renderer
    masked = next(iter(views.process(ep)))
    rates = {
        "sim_views (+masks)": _rate(SimViews(SimViewsConfig(views=1, segmentation=True, keep_original=False)), ep),
        "background": _rate(Background(BackgroundConfig(keep_original=False)), masked),
        "photometric": _rate(Photometric(PhotometricConfig(keep_original=False)), ep),
    }
    for name, stage in (
        ("language", Language(LanguageConfig())),
        ("conversations", Conversations(ConversationsConfig())),
    ):
        stage.setup()
        started = time.perf_counter()
        for _ in range(20):
            list(stage.process(ep))
        rates[name] = 20 * ep.length / (time.perf_counter() - started)
    try:
        sys.path.insert(0, str(REPO))
        from datapipe.stages.augment.inpaint import Inpaint, InpaintConfig
        from tests.stages.test_augment_inpaint import tiny_inpainting_pipeline

        tiny_inpainting_pipeline(tmp / "tiny")
        rates["inpaint (plate, tiny model)"] = _rate(
            Inpaint(InpaintConfig(model=str(tmp / "tiny"), steps=4, size=128, keep_original=False)), masked
        )
    except ImportError as exc:
        print(f"augmentation: inpaint skipped ({exc})", flush=True)
    print(
        "augmentation stages on the CPU, frames/s (camera frames made; language and conversations: steps/s): "
        + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()),
        flush=True,
    )


def _stream(tmp: Path) -> None:
    from datapipe.formats.shards.manifest import build_manifest
    from datapipe.formats.shards.writer import ShardOptions, write_part
    from datapipe.records.synthetic import synthetic_episode
    from datapipe.storage import resolve
    from datapipe.training.stream import ShardStream

    eps = [synthetic_episode(0, i, length=40, cameras=("front",), image_size=(128, 128)) for i in range(20)]
    receipt = write_part(resolve(tmp / "ds"), eps, "part-000000000000000a", ShardOptions(val_fraction=0.0))
    build_manifest(resolve(tmp / "ds"), [receipt], 0.0, "")

    def rate(**kw) -> float:
        started = time.perf_counter()
        n = sum(1 for _ in ShardStream(str(tmp / "ds"), **kw))
        return n / (time.perf_counter() - started)

    plain, octo = rate(), rate(augment="octo")
    print(
        f"stream with on-the-fly photometric augmentation (octo preset, 128x128): {octo:.0f} samples/s, without "
        f"{plain:.0f} samples/s: ratio {octo / plain:.2f}",
        flush=True,
    )


def main() -> None:
    np.seterr(all="ignore")
    with tempfile.TemporaryDirectory() as tmp:
        _stages(Path(tmp))
        _stream(Path(tmp))


if __name__ == "__main__":
    main()

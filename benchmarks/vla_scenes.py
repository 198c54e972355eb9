"""How many scenes does the vision-language encoder need to find the block? (issue 27's diagnosis)

The vision-language preset trained on 200 pick_place demonstrations remembers scenes instead of
finding the block. This benchmark measures that directly, without actions: the preset's own
network (:func:`datapipe.training.vision_language.build_model`, cameras front + wrist, FiLM on the
instruction) learns, through its auxiliary head, where the named block and the zone are (x, y on
the table, m) from the first frames of N randomized scenes, and is scored on 200 held-out scenes
(seeds from 1,000,000, the evaluation's) by its mean error in cm. The baseline, measured in the
same run, is guessing the training scenes' mean position; the ratio is error / baseline (1.0: it
learned nothing that carries to new scenes).

``BENCH_VLA_SCENES`` (comma list of N, default ``200,4000``), ``BENCH_VLA_SCENE_STEPS`` (optimizer
steps per N, 3000), ``BENCH_VLA_SCENE_SIZE`` (pixels, square, 64).
"""

from __future__ import annotations

import os
import time

import numpy as np

COUNTS = tuple(int(n) for n in os.environ.get("BENCH_VLA_SCENES", "200,4000").split(","))
STEPS = int(os.environ.get("BENCH_VLA_SCENE_STEPS", "3000"))
SIZE = int(os.environ.get("BENCH_VLA_SCENE_SIZE", "64"))
CAMERAS = ("front", "wrist")
HELD_OUT = 200  # scenes, from seed 1,000,000
FIRST_TRAINING_SEED = 2_000_000  # neither the demonstrations' seeds (from 0) nor the evaluation's
PER_CALL = 100  # scenes per Ray task
BATCH = 64


def _render(seeds: list[int]) -> list[tuple[dict, str, np.ndarray]]:
    """``(frames {camera: (S, S, 3) uint8}, instruction, [block x, y, zone x, y] m)`` of each
    seed's first frame (the arm at its start pose)."""
    from datapipe.generators.generator import SimGenerator, SimSettings

    gen = SimGenerator(SimSettings(task="pick_place", cameras=CAMERAS, image_size=(SIZE, SIZE)))
    out = []
    for seed in seeds:
        params = gen.scene_params(seed)
        sim = gen.build(params)
        task = params["task"]
        where = np.array([*task["block"]["xy"], *task["zone"]["xy"]], np.float32)
        out.append(({c: gen.live_frame(sim, params, c) for c in CAMERAS}, task["instruction"], where))
    return out


def _scenes(first: int, count: int) -> list:
    from datapipe.engine.runners.ray_cluster import map_on_ray

    seeds = list(range(first, first + count))
    calls = [(seeds[i : i + PER_CALL],) for i in range(0, count, PER_CALL)]
    return [scene for part in map_on_ray(_render, calls) for scene in part]


def _tensors(scenes: list, vocabulary) -> tuple:
    import torch

    from datapipe.training.vision_language import word_ids

    images = {c: torch.from_numpy(np.stack([s[0][c] for s in scenes])) for c in CAMERAS}
    return images, word_ids(vocabulary, [s[1] for s in scenes]), torch.from_numpy(np.stack([s[2] for s in scenes]))


def _error_cm(model, images, words, where, mean, std) -> list[float]:
    """Mean distance (cm) between guessed and true positions: [block, zone]."""
    import torch

    with torch.no_grad():
        seen = {c: v.permute(0, 3, 1, 2).float() / 255.0 for c, v in images.items()}
        _, guess = model(seen, torch.zeros(len(words), 1), words, aux=True)
    guess = guess * std + mean
    return [round(float((guess[:, k : k + 2] - where[:, k : k + 2]).norm(dim=1).mean()) * 100, 1) for k in (0, 2)]


def _learn(train: list, held: list) -> dict:
    import torch

    from datapipe.language.vocabulary import Vocabulary
    from datapipe.training.vision_language import build_model, random_shift

    torch.manual_seed(0)
    vocabulary = Vocabulary.build([s[1] for s in train + held])
    images, words, where = _tensors(train, vocabulary)
    h_images, h_words, h_where = _tensors(held, vocabulary)
    mean, std = where.mean(0), where.std(0).clamp(min=1e-6)
    model = build_model(CAMERAS, 1, len(vocabulary), 1, aux_dim=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for _ in range(STEPS):
        pick = torch.randint(0, len(train), (BATCH,))
        seen = {c: random_shift(v[pick].permute(0, 3, 1, 2).float() / 255.0, 4) for c, v in images.items()}
        _, guess = model(seen, torch.zeros(BATCH, 1), words[pick], aux=True)
        loss = ((guess - (where[pick] - mean) / std) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    baseline = [round(float((mean[k : k + 2] - h_where[:, k : k + 2]).norm(dim=1).mean()) * 100, 1) for k in (0, 2)]
    return {
        "train_cm": _error_cm(
            model, {c: v[:HELD_OUT] for c, v in images.items()}, words[:HELD_OUT], where[:HELD_OUT], mean, std
        ),
        "held_out_cm": _error_cm(model, h_images, h_words, h_where, mean, std),
        "mean_guess_cm": baseline,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    import torch

    from datapipe.engine.runners.ray_cluster import init_ray

    started_ray = init_ray()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.perf_counter()
    held = _scenes(1_000_000, HELD_OUT)
    train_all = _scenes(FIRST_TRAINING_SEED, max(COUNTS))
    print(f"vla_scenes: rendered {len(held) + len(train_all)} scenes in {time.perf_counter() - t0:.0f} s", flush=True)
    for n in COUNTS:
        r = _learn(train_all[:n], held)
        ratio = [round(e / b, 2) for e, b in zip(r["held_out_cm"], r["mean_guess_cm"])]
        print(
            f"vla_scenes [{n} scenes, {STEPS} steps, {r['seconds']:.0f} s]: held-out error block "
            f"{r['held_out_cm'][0]} cm, zone {r['held_out_cm'][1]} cm (training scenes {r['train_cm'][0]}, "
            f"{r['train_cm'][1]}); baseline (the mean position) {r['mean_guess_cm'][0]}, {r['mean_guess_cm'][1]} cm; "
            f"ratio {ratio[0]}x, {ratio[1]}x",
            flush=True,
        )
    if started_ray:
        import ray

        ray.shutdown()


if __name__ == "__main__":
    main()

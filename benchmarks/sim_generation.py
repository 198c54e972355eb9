"""Simulated demonstrations: generator overhead, episodes per minute, Ray scaling.

1. Physics steps/s of the generator (expert with IK and recording, ``pick_place``) against a bare
   ``mj_step`` loop over the same number of steps on the same compiled model, same run (ratio).
2. Successful episodes per minute per core, without rendering and with rendering at 2 cameras of
   128x128 (``front`` and ``wrist``).
3. Rendering: the generator's rendering of a kept episode against a bare ``mujoco.Renderer`` loop
   over the same states (target >= 0.8).
4. Scaling: the same seeds simulated by 1 Ray worker and by 2 (episodes/s ratio; ideal 2.0 on a
   machine with 2 free cores).
"""

from __future__ import annotations

import os
import time

import numpy as np

import generators  # noqa: F401  (sets MUJOCO_GL before mujoco is first imported)

SEEDS = int(os.environ.get("BENCH_SIM_SEEDS", "12"))
RENDERED = int(os.environ.get("BENCH_SIM_RENDERED", "2"))


def _generator(**kw):
    from generators.generator import SimGenerator, SimSettings

    return SimGenerator(SimSettings(task="pick_place", **kw))


def _overhead() -> None:
    import mujoco

    gen = _generator()
    gen.simulate(0)  # warm up
    steps, elapsed, model = 0, 0.0, None
    for seed in range(1, 1 + SEEDS // 2):
        started = time.perf_counter()
        run = gen.simulate(seed)
        elapsed += time.perf_counter() - started
        steps += (len(run.recording) + 10) * run.sim.substeps
        model = run.model
    data = mujoco.MjData(model)
    started = time.perf_counter()
    mujoco.mj_step(model, data, nstep=steps)
    bare = steps / (time.perf_counter() - started)
    ours = steps / elapsed
    print(
        f"sim generator: {ours:.0f} physics steps/s (expert, IK, recording, scene build) vs bare mj_step "
        f"{bare:.0f} steps/s on the same model: ratio {ours / bare:.2f}",
        flush=True,
    )


def _episodes_per_minute() -> None:
    gen = _generator()
    started = time.perf_counter()
    ok = sum(gen.simulate(seed).success for seed in range(100, 100 + SEEDS))
    plain = ok / (time.perf_counter() - started) * 60
    rgen = _generator(cameras=("front", "wrist"), image_size=(128, 128))
    started = time.perf_counter()
    kept = 0
    for seed in range(200, 200 + RENDERED):
        run = rgen.simulate(seed)
        if run.success:
            rgen.episode(run, render=True)
            kept += 1
    rendered = kept / (time.perf_counter() - started) * 60
    print(
        f"sim episodes per minute per core (pick_place): {plain:.1f} without rendering, {rendered:.1f} with 2 "
        f"cameras at 128x128 (ratio {rendered / plain:.3f})",
        flush=True,
    )


def _render_against_bare() -> None:
    """The generator's rendering of a kept episode (states set, cameras rendered, frames encoded
    into the episode) against a bare ``mujoco.Renderer`` loop over the same states and cameras with
    the same settings (no encoding)."""
    import mujoco

    rgen = _generator(cameras=("front", "wrist"), image_size=(128, 128))
    run = next(r for r in (rgen.simulate(s) for s in range(300, 320)) if r.success)
    rgen.episode(run, render=True)  # warm up the EGL context
    started = time.perf_counter()
    rgen.episode(run, render=True)
    ours = time.perf_counter() - started
    a = run.recording.arrays()
    cams = [rgen._camera_name(c) for c in ("front", "wrist")]
    model, data = run.model, mujoco.MjData(run.model)
    offsamples = model.vis.quality.offsamples
    model.vis.quality.offsamples = 0
    started = time.perf_counter()
    with mujoco.Renderer(model, 128, 128) as renderer:
        for t in range(len(a["qpos"])):
            data.qpos[:] = a["qpos"][t]
            mujoco.mj_forward(model, data)
            for cam in cams:
                renderer.update_scene(data, camera=cam)
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
                renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
                renderer.render()
    bare = time.perf_counter() - started
    model.vis.quality.offsamples = offsamples
    frames = 2 * len(a["qpos"])
    print(
        f"sim rendering: {frames / ours:.0f} frames/s into an episode (render + H.264) vs a bare mujoco.Renderer "
        f"loop {frames / bare:.0f} frames/s over the same states: ratio {bare / ours:.2f} (target >= 0.8)",
        flush=True,
    )


def _simulate_seeds(seeds: list[int]) -> int:
    gen = _generator()
    return sum(gen.simulate(s).success for s in seeds)


def _scaling() -> None:
    import ray

    from datapipe.runners.ray_runner import init_ray

    started_ray = init_ray()
    task = ray.remote(num_cpus=1)(_simulate_seeds)
    ray.get(task.remote([0]))  # start a worker, import everything
    seeds = list(range(300, 300 + 2 * SEEDS))
    started = time.perf_counter()
    ray.get(task.remote(seeds))
    one = len(seeds) / (time.perf_counter() - started)
    started = time.perf_counter()
    ray.get([task.remote(seeds[0::2]), task.remote(seeds[1::2])])
    two = len(seeds) / (time.perf_counter() - started)
    print(
        f"sim scaling on Ray: 1 worker {one:.2f} episodes/s, 2 workers {two:.2f} episodes/s: "
        f"speed-up {two / one:.2f}x (ideal 2.00 with 2 free cores; {os.cpu_count()} cores here)",
        flush=True,
    )
    if started_ray:
        ray.shutdown()


def main() -> None:
    np.seterr(all="ignore")
    _overhead()
    _episodes_per_minute()
    _render_against_bare()
    _scaling()


if __name__ == "__main__":
    main()

"""Simulated demonstrations: generator overhead, episodes per minute, Ray scaling.

For Menagerie's Panda (the default robot) and the embedded primitive arm:

1. Physics steps/s of the generator (scene edit per episode, expert with IK, recording,
   ``pick_place``) against bare ``mj_step`` calls stepping the same episodes' commands on the same
   compiled model from the same states, same run (ratio; target >= 0.8).
2. Successful episodes per minute per core, without rendering and with rendering at 2 cameras of
   128x128 (``front`` and ``wrist``; targets >= 10 with the Panda, >= 33 with the primitive arm).
3. Rendering: the generator's rendering of a kept episode (frames encoded into the episode)
   against a bare ``mujoco.Renderer`` loop over the same states (target >= 0.8).
4. Scaling: the same seeds simulated by 1 Ray worker and by 2 (episodes/s ratio; ideal 2.0 on a
   machine with 2 free cores).
"""

from __future__ import annotations

import os
import time

import numpy as np

import datapipe.generators  # noqa: F401  (sets MUJOCO_GL before mujoco is first imported)

SEEDS = int(os.environ.get("BENCH_SIM_SEEDS", "12"))
RENDERED = int(os.environ.get("BENCH_SIM_RENDERED", "2"))


ROBOTS = ("franka_emika_panda", "primitive_panda")


def _generator(robot: str = ROBOTS[0], **kw):
    from datapipe.generators.generator import SimGenerator, SimSettings
    from datapipe.generators.robots.registry import resolve_robot

    return SimGenerator(SimSettings(task="pick_place", **kw), resolve_robot(robot))


def _overhead(robot: str) -> None:
    import mujoco

    gen = _generator(robot)
    gen.simulate(0)  # warm up: the scene is compiled once, here
    steps, elapsed, bare_elapsed = 0, 0.0, 0.0
    for seed in range(1, 1 + SEEDS // 2):
        started = time.perf_counter()
        run = gen.simulate(seed)
        elapsed += time.perf_counter() - started
        steps += (len(run.recording) + 10) * run.sim.substeps
        # the same physics, bare: this episode's commands stepped on the same model from its start
        model, data = run.model, mujoco.MjData(run.model)
        ctrl = np.asarray(run.recording.rows["ctrl"])
        mujoco.mj_setState(model, data, run.recording.initial_state, mujoco.mjtState.mjSTATE_FULLPHYSICS)
        started = time.perf_counter()
        for _ in range(10):  # the settling steps before the recording
            mujoco.mj_step(model, data, nstep=run.sim.substeps)
        for c in ctrl:
            data.ctrl[:] = c
            mujoco.mj_step(model, data, nstep=run.sim.substeps)
        bare_elapsed += time.perf_counter() - started
    bare = steps / bare_elapsed
    ours = steps / elapsed
    print(
        f"sim generator [{robot}]: {ours:.0f} physics steps/s (scene edit, expert, IK, recording) vs bare "
        f"mj_step {bare:.0f} steps/s over the same episodes: ratio {ours / bare:.2f} (target >= 0.8)",
        flush=True,
    )


def _episodes_per_minute(robot: str) -> None:
    gen = _generator(robot)
    gen.simulate(0)  # compile once, outside the timing (once per worker in a run)
    started = time.perf_counter()
    ok = sum(gen.simulate(seed).success for seed in range(100, 100 + SEEDS))
    plain = ok / (time.perf_counter() - started) * 60
    rgen = _generator(robot, cameras=("front", "wrist"), image_size=(128, 128))
    rgen.episode(rgen.simulate(0), render=True)  # compile, make the renderer
    started = time.perf_counter()
    kept = 0
    for seed in range(200, 200 + RENDERED):
        run = rgen.simulate(seed)
        if run.success:
            rgen.episode(run, render=True)
            kept += 1
    rendered = kept / (time.perf_counter() - started) * 60
    target = 10 if robot == "franka_emika_panda" else 33
    print(
        f"sim episodes per minute per core [{robot}] (pick_place): {plain:.1f} without rendering, {rendered:.1f} "
        f"with 2 cameras at 128x128 (target >= {target}; ratio {rendered / plain:.3f})",
        flush=True,
    )


def _render_against_bare(robot: str) -> None:
    """The generator's rendering of a kept episode (states set, cameras rendered, frames encoded
    into the episode) against a bare ``mujoco.Renderer`` loop over the same states and cameras with
    the same settings (no encoding)."""
    import mujoco

    rgen = _generator(robot, cameras=("front", "wrist"), image_size=(128, 128))
    run = next(r for r in (rgen.simulate(s) for s in range(300, 320)) if r.success)
    rgen.episode(run, render=True)  # warm up the EGL context
    run = rgen.simulate(run.seed)  # the model holds this seed's scene again
    started = time.perf_counter()
    rgen.episode(run, render=True)
    ours = time.perf_counter() - started
    a = run.recording.arrays()
    cams = [rgen.camera_name(c) for c in ("front", "wrist")]
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
        f"sim rendering [{robot}]: {frames / ours:.0f} frames/s into an episode (render + H.264) vs a bare renderer "
        f"loop {frames / bare:.0f} frames/s over the same states: ratio {bare / ours:.2f} (target >= 0.8)",
        flush=True,
    )


def _simulate_seeds(seeds: list[int]) -> int:
    gen = _generator(ROBOTS[0])
    return sum(gen.simulate(s).success for s in seeds)


def _scaling() -> None:
    import ray

    from datapipe.engine.runners.ray_cluster import init_ray

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
    for robot in ROBOTS:
        _overhead(robot)
        _episodes_per_minute(robot)
        _render_against_bare(robot)
    _scaling()


if __name__ == "__main__":
    main()

"""MuJoCo simulation: robots, scenes, tasks, scripted experts, domain randomization, rendering and
demo multiplication.

Off-screen rendering uses EGL unless ``MUJOCO_GL`` says otherwise; MuJoCo reads it when it is
first imported, so it is set here, before any submodule imports mujoco.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

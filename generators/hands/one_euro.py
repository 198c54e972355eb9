"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012): a low-pass filter whose cutoff
rises with speed, so slow motion is smoothed and fast motion keeps little lag.

Cutoff ``fc = min_cutoff + beta * |dx/dt|`` (Hz); ``d_cutoff`` smooths the speed estimate.
"""

from __future__ import annotations

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(
    x: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0
) -> np.ndarray:
    """Filter a signal ``x`` of shape ``(T, ...)`` sampled at ``fps`` Hz, element-wise."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return x.copy()
    dt = 1.0 / fps
    out = np.empty_like(x)
    out[0] = x[0]
    dx_prev = np.zeros_like(x[0])
    for t in range(1, len(x)):
        dx = (x[t] - out[t - 1]) / dt
        a_d = _alpha(d_cutoff, dt)
        dx_hat = a_d * dx + (1 - a_d) * dx_prev
        cutoff = min_cutoff + beta * np.abs(dx_hat)
        a = _alpha(cutoff, dt)
        out[t] = a * x[t] + (1 - a) * out[t - 1]
        dx_prev = dx_hat
    return out

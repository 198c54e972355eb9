"""A Ray session for datapipe: join a cluster (or start an embedded local Ray), configure Ray
Data for datapipe's runs, and fan plain functions out as Ray tasks (``map_on_ray``, used by
``datapipe evaluate``, ``train.bc`` and the benchmarks). The plan compiler that runs workflows on
Ray is :mod:`datapipe.engine.runners.ray_runner`."""

from __future__ import annotations

import logging
import os
import socket
import sys
import warnings
from typing import Any

from datapipe.errors import DatapipeError

CONNECT_TIMEOUT_S = 5.0


class ClusterError(DatapipeError):
    """The Ray cluster cannot be reached, or cannot run what the workflow asks for."""


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`ClusterError` within ``timeout_s`` when nothing listens at ``address``
    (``HOST:PORT`` or ``ray://HOST:PORT``; ``auto`` is left to Ray)."""
    if address in ("local", "auto"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"--address {address!r}: expected HOST:PORT (for example 127.0.0.1:6379)")
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); start one "
            f"with 'ray start --head', or leave --address and RAY_ADDRESS unset for an embedded "
            f"Ray"
        ) from None


def init_ray(address: str | None = None) -> bool:
    """Connect to ``address`` (or ``RAY_ADDRESS``), or start an embedded local Ray.

    Returns whether this call started or joined Ray (and so should shut it down). An address
    where no cluster answers raises :class:`ClusterError` within seconds.
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        # An embedded single-user Ray on loopback: no token prompt, no usage reporting.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    check_reachable(address)
    if sys.stderr is sys.__stderr__:  # not where someone else captures stderr (pytest, a notebook)
        from datapipe.engine.runners.native_stderr import filter_native_stderr

        filter_native_stderr()
    try:
        ray.init(
            address=address, include_dashboard=False if address == "local" else None, logging_level=logging.WARNING
        )
    except ConnectionError as exc:
        raise ClusterError(f"--address {address}: cannot join the Ray cluster: {exc}") from None
    return True


def shutdown_ray() -> None:
    """Disconnect from (or stop the embedded) Ray started by :func:`init_ray`."""
    import ray

    ray.shutdown()


def configure_ray_data() -> None:
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
    # an actor-pool stage whose upstream is empty (the demo's egocentric branch without clips)
    warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # datapipe shows its own per-stage bars
    # No per-operator reservation: Ray Data reserves half the cluster's CPUs, split among the
    # operators, so a chain feeding a sink that waits for a batch of 256 episodes left about half
    # the CPUs idle (benchmark engine_scaling: 0.49 of the ideal on 2 CPUs, 0.48 on 8; without the
    # reservation 0.96 and 0.87). Object-store backpressure still throttles fast producers.
    ctx.op_resource_reservation_enabled = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    ctx.verbose_stats_logs = False


def map_on_ray(fn: Any, calls: list[tuple], num_cpus: float = 1.0, on_result: Any = None) -> list[Any]:
    """``fn(*args)`` for each ``args`` of ``calls`` as Ray tasks (an embedded local Ray is started
    and shut down again when none is running); results in the order of ``calls``.
    ``on_result(index, result)`` is called in the driver as each finishes."""
    import ray

    started = init_ray()
    try:
        remote = ray.remote(num_cpus=num_cpus)(fn)
        refs = [remote.remote(*args) for args in calls]
        if on_result is None:
            return ray.get(refs)
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                results[index[ref]] = ray.get(ref)
                on_result(index[ref], results[index[ref]])
        return results
    finally:
        if started:
            ray.shutdown()


def ray_running() -> bool:
    """Whether this process is connected to a Ray (so work may fan out onto it)."""
    import ray

    return ray.is_initialized()


def available_cpus() -> int:
    """CPUs of the running Ray (or of this machine when Ray is not running)."""
    import ray

    if ray.is_initialized():
        return max(1, int(ray.available_resources().get("CPU", 1)))
    return max(1, os.cpu_count() or 1)

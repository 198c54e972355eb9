"""``debug.where``: record where each episode was processed (node, process, the GPUs Ray gave it)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

from datapipe.engine.stage import Transform
from datapipe.records import Episode


class Where(Transform):
    """Record in meta.where the Ray node id, host name, process id and CUDA_VISIBLE_DEVICES of the
    worker that processed each episode, then pass it on (checks scheduling on clusters)."""

    name = "debug.where"
    version = "1"

    def process(self, episode: Episode) -> Iterable[Episode]:
        node = ""
        try:
            import ray

            if ray.is_initialized():
                node = ray.get_runtime_context().get_node_id()
        except ImportError:  # the local runner without Ray
            pass
        where = {
            "node_id": node,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }
        yield episode.with_meta(where=where)

"""Level-of-detail visual meshes for rendering datasets on a CPU renderer.

On Mesa's llvmpipe a frame's cost grows with its triangles: Menagerie's Panda has about 198k
visual triangles, far more than a 128x128 frame can show. :func:`reduce_visual_meshes` swaps each
visual mesh of a spec (a mesh geom that collides with nothing) for a decimated copy made with
``fast-simplification`` (quadric edge collapse), once per mesh and reduction, cached in memory and
on disk (``$XDG_CACHE_HOME/datapipe/lod``). A mesh keeps at least :data:`MIN_FACES` faces, so small
parts seen from close by (the fingers, in the wrist camera) keep their shape. Collision meshes are
never touched, and visual geoms carry no mass in the models datapipe adapts, so the physics does
not change.

:func:`lod_reduction` picks the reduction from the output resolution: the fraction of triangles
removed is 0.9 up to 160 pixels, 0.8 up to 320, 0.5 up to 640 and none above.
``tests/generators/test_lod.py`` checks reduced and full renders look the same at those sizes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import mujoco
import numpy as np

LOD_VERSION = "2"
MIN_FACES = 1000  # a mesh keeps at least this many faces (small parts, such as fingers, stay whole)
_MEMORY: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def lod_reduction(image_size: tuple[int, int]) -> float:
    """Fraction of visual triangles to remove for frames of ``image_size`` (height, width) pixels."""
    side = max(image_size)
    for limit, reduction in ((160, 0.9), (320, 0.8), (640, 0.5)):
        if side <= limit:
            return reduction
    return 0.0


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "datapipe" / "lod"


def _quat_to_mat(q: np.ndarray) -> np.ndarray:
    out = np.zeros(9)
    mujoco.mju_quat2Mat(out, np.asarray(q, dtype=np.float64))
    return out.reshape(3, 3)


def weld(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices at the same position (mesh files repeat a vertex per face normal), dropping
    faces that collapse; the simplifier needs a connected surface."""
    unique, inverse = np.unique(np.round(vertices, 7), axis=0, return_inverse=True)
    f = inverse.reshape(-1)[faces]
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    return unique.astype(np.float32), f[keep].astype(np.int32)


def decimate(vertices: np.ndarray, faces: np.ndarray, reduction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices (n, 3) float32, faces (m, 3) int32)`` with about ``reduction`` of the faces removed;
    cached by content (memory and disk)."""
    import fast_simplification

    key = hashlib.sha256(
        LOD_VERSION.encode() + np.float32(reduction).tobytes() + vertices.tobytes() + faces.tobytes()
    ).hexdigest()[:24]
    if key in _MEMORY:
        return _MEMORY[key]
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                _MEMORY[key] = (z["vertices"], z["faces"])
                return _MEMORY[key]
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is remade below
    v, f = weld(vertices, faces)
    reduction = min(reduction, 1.0 - MIN_FACES / max(len(f), 1))
    if reduction > 0.05:
        v, f = fast_simplification.simplify(v, f, target_reduction=reduction)
    result = (np.ascontiguousarray(v, dtype=np.float32), np.ascontiguousarray(f, dtype=np.int32))
    _MEMORY[key] = result
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, vertices=result[0], faces=result[1])
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the decimation next time
    return result


def reduce_visual_meshes(spec: mujoco.MjSpec, reduction: float) -> dict[str, int]:
    """Replace, in place, every visual mesh of ``spec`` by a copy with ``reduction`` of its triangles
    removed. Returns the visual triangle counts ``{"before": n, "after": m}``."""
    counts = {"before": 0, "after": 0}
    if reduction <= 0:
        return counts
    model = spec.compile()
    users: dict[str, list[mujoco.MjsGeom]] = {}  # the visual geoms of each mesh
    collision: set[str] = set()
    for geom in spec.geoms:
        if geom.type != mujoco.mjtGeom.mjGEOM_MESH:
            continue
        if geom.contype == 0 and geom.conaffinity == 0:
            users.setdefault(geom.meshname, []).append(geom)
        else:
            collision.add(geom.meshname)
    for name in sorted(users):
        mesh_id = model.mesh(name).id
        va, vn = model.mesh_vertadr[mesh_id], model.mesh_vertnum[mesh_id]
        fa, fn = model.mesh_faceadr[mesh_id], model.mesh_facenum[mesh_id]
        # compiled vertices are centred and aligned to the mesh's inertia frame; back to the file's frame
        local = model.mesh_vert[va : va + vn].astype(np.float64)
        vertices = local @ _quat_to_mat(model.mesh_quat[mesh_id]).T + model.mesh_pos[mesh_id]
        v, f = decimate(vertices.astype(np.float32), model.mesh_face[fa : fa + fn].astype(np.int32), reduction)
        counts["before"] += int(fn)
        counts["after"] += len(f)
        reduced = name
        if name in collision:  # a mesh collision geoms use too keeps its full copy for them
            reduced = f"{name}/lod"
        else:
            spec.delete(spec.mesh(name))
        spec.add_mesh(name=reduced, uservert=v.reshape(-1).tolist(), userface=f.reshape(-1).tolist())
        for geom in users.get(name, []):
            geom.meshname = reduced
    return counts

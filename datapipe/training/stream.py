"""``datapipe.training.stream``: training samples streamed from a shard dataset, with exact resume.

A sample is one step ``t`` of one episode::

    episode_id, frame_index (t), timestamp (s), task (str)
    observation.state          (S,) float32, or (n, S) with state_history n > 1 (oldest first)
    observation.state_is_pad   (n,) bool, true where the history reaches before the episode start
    action                     (A,) float32, or (H, A) with action_horizon H > 1 (steps t..t+H-1)
    action_is_pad              (H,) bool, true where the chunk runs past the episode end
    observation.images.<cam>   (h, w, 3) uint8 RGB, resized to image_size if given
    reward, is_intervention    scalars at t

Padded positions repeat the nearest real step. With ``normalize="mean_std"`` state and action
are ``(x - mean) / std``; with ``"q01_q99"`` they are mapped so q01 -> -1 and q99 -> 1, then
clipped to [-1, 1] (statistics from the manifest).

Order. Each epoch the shards are permuted (seed, epoch); consumers (``rank`` x loader
``worker``) take every n-th shard, or every n-th episode when there are fewer shards than
consumers, so no sample is duplicated or dropped (``equal_shares`` trims every consumer to the
smallest share instead, for data-parallel training where ranks must take equal steps). Each
consumer's steps pass a shuffle buffer of ``shuffle_buffer`` samples seeded by (seed, epoch,
consumer). The order is a pure function of the episode lengths in ``episodes.parquet``, so
:meth:`ShardStream.load_state_dict` can resume at exactly the next sample: it replays the order
on keys alone, then decodes only the episodes whose steps were waiting in the buffer.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.formats.shards.consistency import episode_table_problems
from datapipe.formats.shards.dataset import DatasetError, ShardDataset
from datapipe.formats.shards.sample import SampleError, camera_frames, members_episode, sample_digest
from datapipe.formats.shards.tar_io import ShardError
from datapipe.records import Episode
from datapipe.records.names import sample_key
from datapipe.schemas.shard_manifest import EPISODES_NAME
from datapipe.training.normalization import normalizers
from datapipe.training.stream_config import StreamConfig, check_wanted

log = logging.getLogger(__name__)


def _checked_episode(members: dict[str, bytes], where: str, ref: EpisodeRef, verify: bool = True) -> Episode:
    """The sample's episode, if it is the one ``episodes.parquet`` names: same sha256 of its
    members, same id and length; :class:`SampleError` naming the sample otherwise (a flipped
    bit, swapped members or shards, an edited table)."""
    if verify and ref.sha256 and sample_digest(members) != ref.sha256:
        raise SampleError(f"{where}: the sample's sha256 does not match episodes.parquet (damaged or swapped)")
    ep = members_episode(members, where)
    if ep.episode_id != ref.episode_id or ep.length != ref.length:
        raise SampleError(
            f"{where}: holds episode {ep.episode_id[:12]} of {ep.length} steps, episodes.parquet says "
            f"{ref.episode_id[:12]} of {ref.length}"
        )
    return ep


class EpisodeRef(NamedTuple):
    """Where one episode of the stream lives."""

    shard: str
    index_in_shard: int
    episode_id: str
    length: int
    sha256: str | None = None  # of the sample's members, from episodes.parquet (checked on read)


_ORDER_KEYS = (
    "split",
    "shuffle",
    "shuffle_buffer",
    "seed",
    "rank",
    "world_size",
    "worker",
    "num_workers",
    "equal_shares",
)


class ShardStream:
    """An iterable of training samples over a shard dataset (see the module docstring).

    Iterating runs the current epoch from the current position; when the epoch ends the stream
    moves to the next one. :meth:`state_dict` after ``k`` samples, loaded into a stream of the
    same dataset and order settings, continues with sample ``k + 1``.
    """

    def __init__(self, path: str | ShardDataset, **config: Any):
        self.dataset = path if isinstance(path, ShardDataset) else ShardDataset(str(path))
        self.config = StreamConfig(**config)
        self.epoch = 0
        self.position = 0
        self.skipped: Counter[str] = Counter()  # errors skipped with on_error="skip", by type
        feats = self.dataset.features
        videos = [k for k, f in feats.items() if f["kind"] == "video"]
        cams = list(self.config.cameras) if self.config.cameras is not None else videos
        check_wanted(feats, cams, self.config.extra_steps)
        self.cameras = cams
        self._norm = self._normalizers()
        _ = self._episodes_by_shard  # read episodes.parquet now: a dataset without it is refused at open

    # -- configuration ----------------------------------------------------------------------
    def with_worker(self, worker: int, num_workers: int) -> ShardStream:
        """This stream for one of ``num_workers`` loader workers (same epoch and position)."""
        other = ShardStream(self.dataset, **asdict(replace(self.config, worker=worker, num_workers=num_workers)))
        other.epoch, other.position = self.epoch, self.position
        return other

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its beginning at the next iteration."""
        self.epoch, self.position = int(epoch), 0

    def state_dict(self) -> dict[str, Any]:
        """Where the stream is: epoch and samples consumed in it, with the order settings."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "order": {k: getattr(self.config, k) for k in _ORDER_KEYS},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from :meth:`state_dict` of a stream with the same settings)."""
        mine = {k: getattr(self.config, k) for k in _ORDER_KEYS}
        theirs = state.get("order", {})
        diff = {k: (theirs.get(k), v) for k, v in mine.items() if theirs.get(k) != v}
        if diff:
            raise DatapipeError(f"state was saved with other order settings (saved, now): {diff}")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    # -- order ---------------------------------------------------------------------------------
    @cached_property
    def _episodes_by_shard(self) -> dict[str, list[EpisodeRef]]:
        """Every episode of the dataset by shard, in sample order (read once: datasets are immutable)."""
        by_shard: dict[str, list[EpisodeRef]] = {}
        table = self.dataset.episodes
        columns = [c for c in ("shard", "index_in_shard", "episode_id", "length", "sha256") if c in table.column_names]
        rows = table.select(columns).to_pylist()
        problems = episode_table_problems(self.dataset.manifest, rows, self.dataset.uri(EPISODES_NAME))
        if problems and self.config.on_error == "raise":
            more = f" (and {len(problems) - 1} more; datapipe validate-dataset lists them)" if len(problems) > 1 else ""
            raise DatasetError(problems[0].message + more)
        bad = {p.row for p in problems if p.row is not None}
        for p in problems:
            self._skip_or_raise(DatasetError(p.message), "an episode" if p.row is not None else "nothing")
        for i, row in enumerate(rows):
            if i not in bad:
                by_shard.setdefault(row["shard"], []).append(EpisodeRef(**row))
        for refs in by_shard.values():
            refs.sort(key=lambda r: r.index_in_shard)
        return by_shard

    def _assignment(self, epoch: int) -> list[list[EpisodeRef]]:
        """Every consumer's episodes for ``epoch``, in read order (index: consumer)."""
        c = self.config
        n = c.consumer[1]
        shards = self.dataset.shards(c.split)
        order = np.random.default_rng([c.seed, epoch]).permutation(len(shards)) if c.shuffle else np.arange(len(shards))
        by_shard = self._episodes_by_shard
        ordered = [shards[k]["name"] for k in order]
        if len(ordered) >= n:
            return [[r for name in ordered[i::n] for r in by_shard.get(name, [])] for i in range(n)]
        everything = [r for name in ordered for r in by_shard.get(name, [])]
        return [everything[i::n] for i in range(n)]

    def refs(self, epoch: int | None = None) -> list[EpisodeRef]:
        """This consumer's episodes for ``epoch`` (default: the current one), in read order."""
        return self._assignment(self.epoch if epoch is None else epoch)[self.config.consumer[0]]

    def limit(self, epoch: int | None = None) -> int:
        """Samples this consumer yields in ``epoch``: its share, or with ``equal_shares`` the
        smallest share of all consumers (ranks x workers), so every rank takes as many steps."""
        shares = [sum(r.length for r in refs) for refs in self._assignment(self.epoch if epoch is None else epoch)]
        return min(shares) if self.config.equal_shares else shares[self.config.consumer[0]]

    def __len__(self) -> int:
        """Samples this consumer yields in the current epoch."""
        return self.limit()

    def _events(self, refs: list[EpisodeRef], epoch: int) -> Iterator[tuple]:
        """("enter", i) when episode i's steps join the buffer; ("emit", i, t) per sample, in order."""
        c = self.config
        rng = np.random.default_rng([c.seed, epoch, c.consumer[0], 7])
        size = c.shuffle_buffer if c.shuffle else 0
        buf: list[tuple[int, int]] = []
        for i, ref in enumerate(refs):
            yield ("enter", i)
            for t in range(ref.length):
                if size <= 1:
                    yield ("emit", i, t)
                elif len(buf) < size:
                    buf.append((i, t))
                else:
                    j = int(rng.integers(size))
                    yield ("emit", *buf[j])
                    buf[j] = (i, t)
        for j in rng.permutation(len(buf)):
            yield ("emit", *buf[j])

    # -- reading -------------------------------------------------------------------------------
    def _skip_or_raise(self, exc: Exception, what: str) -> None:
        """Raise ``exc`` (``on_error="raise"``) or log it and count it in :attr:`skipped`."""
        if self.config.on_error == "raise":
            raise exc
        self.skipped[type(exc).__name__] += 1
        log.warning("skipping %s: %s", what, exc)

    def _read(self, refs: list[EpisodeRef], need: Callable[[int], bool]) -> Iterator[tuple[int, Episode | None, str]]:
        """``(i, episode, where)`` for every ref in order; the episode is ``None`` where it is not
        needed or (``on_error="skip"``) unreadable: a damaged sample costs that sample, a broken
        tar the rest of its shard."""
        entries = {s["name"]: s for s in self.dataset.shards()}
        i = 0
        while i < len(refs):
            shard = refs[i].shard
            group = []
            while i < len(refs) and refs[i].shard == shard:
                group.append(i)
                i += 1
            wanted = {sample_key(refs[j].episode_id): j for j in group if need(j)}
            if not wanted:
                yield from ((j, None, shard) for j in group)
                continue
            done: set[int] = set()
            try:
                for key, members in self.dataset.iter_shard(entries[shard], lambda k, _s, wanted=wanted: k in wanted):
                    j = wanted.get(key)
                    if j is None:
                        continue
                    where = f"{shard}:{key}"
                    done.add(j)
                    try:
                        ep = _checked_episode(members, where, refs[j], self.config.verify)
                    except SampleError as exc:
                        self._skip_or_raise(exc, f"sample {where}")
                        ep = None
                    yield j, ep, where
            except ShardError as exc:
                self._skip_or_raise(exc, f"the rest of shard {shard}")
                done.update(wanted.values())  # counted once, as the shard's error
            for key, j in wanted.items():
                if j not in done:  # episodes.parquet names it, the shard lacks it (edited, swapped)
                    self._skip_or_raise(
                        SampleError(f"{shard}: episodes.parquet names sample {key}, the shard lacks it"), f"{key}"
                    )
            for j in group:  # not needed, or lost to a skipped error
                if j not in done:
                    yield j, None, shard

    def _normalizers(self) -> dict[str, tuple[np.ndarray, np.ndarray, bool]]:
        return normalizers(self.dataset, self.config.normalize)

    def normalize(self, name: str, x: np.ndarray) -> np.ndarray:
        """``x`` of feature ``name`` as the stream yields it (identity without ``normalize``)."""
        if name not in self._norm:
            return x.astype(np.float32)
        center, scale, clip = self._norm[name]
        y = (x.astype(np.float32) - center) / scale
        return np.clip(y, -1.0, 1.0) if clip else y

    def unnormalize(self, name: str, y: np.ndarray) -> np.ndarray:
        """Invert :meth:`normalize` (for predicted actions; clipped values stay at the quantiles)."""
        if name not in self._norm:
            return y
        center, scale, _ = self._norm[name]
        return y * scale + center

    def _frames(self, ep: Episode, where: str) -> dict[str, np.ndarray]:
        """Decoded (and resized) frames ``(T, h, w, 3)`` of the streamed cameras; a video that
        cannot be decoded, or holds other than one frame per step, raises :class:`SampleError`
        naming the sample and member."""
        frames = {}
        for cam in self.cameras:
            f = camera_frames(ep, cam, where)
            if self.config.image_size is not None:
                import cv2

                h, w = self.config.image_size
                f = np.stack([cv2.resize(x, (w, h), interpolation=cv2.INTER_AREA) for x in f])
            frames[cam] = f
        return frames

    def _decoded(
        self, episodes: Iterator[tuple[int, Episode | None, str]]
    ) -> Iterator[tuple[int, Episode | None, dict[str, np.ndarray]]]:
        """``episodes`` with their frames, decoded ahead on ``decode_threads`` threads (the video
        decoder releases the GIL), in order. A sample whose video is damaged is skipped (its
        episode becomes ``None``) with ``on_error="skip"``."""

        def finish(j: int, ep: Episode | None, where: str, get: Callable[[], dict[str, np.ndarray]]):
            if ep is None:
                return j, None, {}
            try:
                return j, ep, get()
            except SampleError as exc:
                self._skip_or_raise(exc, f"sample {where}")
                return j, None, {}

        threads = self.config.decode_threads
        if threads == 0 or not self.cameras:
            for j, ep, where in episodes:
                yield finish(j, ep, where, lambda ep=ep, where=where: self._frames(ep, where))
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads, thread_name_prefix="datapipe-decode") as pool:
            ahead: deque = deque()
            for j, ep, where in episodes:
                ahead.append((j, ep, where, pool.submit(self._frames, ep, where) if ep is not None else None))
                if len(ahead) > 2 * threads:
                    k, e, w, fut = ahead.popleft()
                    yield finish(k, e, w, lambda fut=fut: fut.result())
            while ahead:
                k, e, w, fut = ahead.popleft()
                yield finish(k, e, w, lambda fut=fut: fut.result())

    def _step_samples(
        self, ep: Episode, frames: dict[str, np.ndarray], keep: Callable[[int], bool]
    ) -> dict[int, dict[str, Any]]:
        c = self.config
        T = ep.length
        state = self.normalize("observation.state", np.asarray(ep.steps["observation.state"]))
        action = self.normalize("action", np.asarray(ep.steps["action"]))
        ts = ep.steps["timestamp"]
        reward, interv = ep.steps["reward"], ep.steps["is_intervention"]
        hist = np.arange(-c.state_history + 1, 1)
        ahead = np.arange(c.action_horizon)
        out = {}
        for t in range(T):
            if not keep(t):
                continue
            s: dict[str, Any] = {
                "episode_id": ep.episode_id,
                "frame_index": t,
                "timestamp": float(ts[t]),
                "task": self._instruction(ep, t),
                "reward": float(reward[t]),
                "is_intervention": bool(interv[t]),
            }
            if c.state_history == 1:
                s["observation.state"] = state[t].copy()
                s["observation.state_is_pad"] = np.zeros(1, dtype=bool)
            else:
                idx = t + hist
                s["observation.state"] = state[np.clip(idx, 0, T - 1)]
                s["observation.state_is_pad"] = idx < 0
            idx = t + ahead
            chunk = action[np.clip(idx, 0, T - 1)]
            s["action"] = chunk[0].copy() if c.action_horizon == 1 else chunk
            s["action_is_pad"] = idx >= T
            for cam, f in frames.items():
                s[f"observation.images.{cam}"] = self._augmented(f[t], ep.episode_id, t, cam)
            for key in c.extra_steps:
                s[key] = np.asarray(ep.steps[key][t], dtype=np.float32)
            out[t] = s
        return out

    def _augmented(self, frame: np.ndarray, episode_id: str, t: int, camera: str) -> np.ndarray:
        """A frame, photometrically augmented (``augment``) with parameters drawn per sample and
        camera from (seed, epoch, episode, step): the same after a resume."""
        if self.config.augment is None:
            return frame.copy()
        import hashlib

        from datapipe.augment.photometric import apply, ranges_of, sample_params

        key = f"{self.config.seed}:{self.epoch}:{episode_id}:{t}:{camera}".encode()
        rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little"))
        return apply(frame, sample_params(rng, ranges_of(self.config.augment)))

    def _instruction(self, ep: Episode, t: int) -> str:
        """The episode's first instruction, or (``instruction="sample"``) one of its instructions
        drawn per sample from (seed, epoch, episode, step): seeded, and the same after a resume."""
        if self.config.instruction == "first" or len(ep.task) == 1:
            return ep.task[0]
        import hashlib

        key = f"{self.config.seed}:{self.epoch}:{ep.episode_id}:{t}".encode()
        return ep.task[int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") % len(ep.task)]

    # -- iteration -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict[str, Any]]:
        epoch = self.epoch
        refs = self.refs(epoch)
        events = self._events(refs, epoch)
        pending: set[tuple[int, int]] = set()
        last_entered = -1
        skipped = 0
        if self.position:  # replay the order on keys alone up to the saved position
            for ev in events:
                if ev[0] == "enter":
                    last_entered = ev[1]
                    pending.update((ev[1], t) for t in range(refs[ev[1]].length))
                else:
                    pending.discard((ev[1], ev[2]))
                    skipped += 1
                    if skipped == self.position:
                        break
        waiting_eps = {i for i, _ in pending}
        restored_upto = last_entered
        reader = self._decoded(self._read(refs, lambda i: i > restored_upto or i in waiting_eps))
        samples: dict[tuple[int, int], dict[str, Any]] = {}

        def enter(upto: int) -> None:
            for j, ep, frames in reader:
                if ep is not None:
                    keep = (lambda t: True) if j > restored_upto else (lambda t, j=j: (j, t) in pending)
                    for t, s in self._step_samples(ep, frames, keep).items():
                        samples[(j, t)] = s
                if j >= upto:
                    return

        if restored_upto >= 0:
            enter(restored_upto)
        limit = self.limit(epoch) if self.config.equal_shares else None
        for ev in events:
            if limit is not None and self.position >= limit:
                break  # equal_shares: the rest of this consumer's epoch is dropped
            if ev[0] == "enter":
                enter(ev[1])
                continue
            s = samples.pop((ev[1], ev[2]), None)
            self.position += 1
            if s is not None:
                yield s
        self.epoch, self.position = epoch + 1, 0

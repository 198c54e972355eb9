"""The stage contract.

A stage is one class in one file, registered by name (``filter.expr``, ``sink.parquet``...):

- ``Config``: a frozen dataclass; its field comments are the help text of ``datapipe stages``;
- ``resources``: what Ray reserves per worker (:class:`Resources`); a workflow may override it;
- ``setup()``: runs once per worker process before the first input (load models, build MuJoCo
  scenes there, never in ``__init__``, which also runs on the driver);
- :class:`Transform` implements ``process(episode) -> iterable of episodes``: zero outputs filter
  the episode out, several fan out (each output needs its own ``episode_id``);
- :class:`SourceStage` implements ``shards()`` (independent read units, names only) and
  ``read(shard)``;
- :class:`SinkStage` implements ``write(episodes, part)`` and ``finalize(receipts)``.

The runner appends a :class:`~datapipe.records.LineageEntry` to every output episode, catches
exceptions per input (quarantine), and commits outputs in atomic parts; stages do none of that.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from datapipe.records import REQUIRED_STEPS, Episode
from datapipe.storage import fingerprint_files


@dataclass(frozen=True)
class Resources:
    """What Ray reserves for one worker of a stage.

    cpus: CPU cores (may be fractional); gpus: GPUs (may be fractional);
    memory: bytes of heap memory, ``None`` for no reservation.
    """

    cpus: float = 1.0
    gpus: float = 0.0
    memory: int | None = None

    def combined(self, other: Resources) -> Resources:
        """What one worker running both stages in turn needs: the larger of each."""
        memory = max(self.memory or 0, other.memory or 0) or None
        return Resources(cpus=max(self.cpus, other.cpus), gpus=max(self.gpus, other.gpus), memory=memory)

    def ray_args(self) -> dict[str, Any]:
        """Keyword arguments of ``map_batches`` / ``ray.remote`` for these resources."""
        args: dict[str, Any] = {"num_cpus": self.cpus}
        if self.gpus:
            args["num_gpus"] = self.gpus
        if self.memory:
            args["memory"] = self.memory
        return args


@dataclass(frozen=True)
class Wiring:
    """What a stage's episodes carry (step arrays, cameras), or what it needs in its inputs.

    ``open``: the episodes may carry more than listed, known only when running (a dataset read by a
    source); requirements cannot be checked against an open wiring before running.
    """

    steps: frozenset[str] = frozenset(REQUIRED_STEPS)
    cameras: frozenset[str] = frozenset()
    open: bool = False

    def plus(self, steps: Iterable[str] = (), cameras: Iterable[str] = ()) -> Wiring:
        """This wiring with more step arrays and cameras."""
        return Wiring(self.steps | frozenset(steps), self.cameras | frozenset(cameras), self.open)

    @staticmethod
    def needs(steps: Iterable[str] = (), cameras: Iterable[str] = ()) -> Wiring:
        """A requirement: these step arrays and cameras."""
        return Wiring(frozenset(steps), frozenset(cameras))

    @staticmethod
    def fan_in(inputs: Iterable[Wiring]) -> Wiring:
        """What every episode of a union of inputs carries (intersection; open if any is)."""
        inputs = list(inputs)
        if not inputs:
            return Wiring()
        steps = frozenset.intersection(*(w.steps for w in inputs))
        cameras = frozenset.intersection(*(w.cameras for w in inputs))
        return Wiring(steps, cameras, any(w.open for w in inputs))


@dataclass(frozen=True)
class NoConfig:
    """A stage without parameters."""


class Stage:
    """Base of every stage. Subclass :class:`SourceStage`, :class:`Transform` or :class:`SinkStage`.

    Class attributes: ``name`` (registered name), ``version`` (bump when outputs change for the
    same inputs and config: it is part of episode ids and of the run directory's content hash),
    ``Config`` (frozen dataclass), ``resources`` (default :class:`Resources`), and
    ``use_actors`` (keep a fixed pool of long-lived workers even when the workflow sets no
    ``concurrency``; for stages whose ``setup`` is costly or holds a GPU), ``fusable`` (whether
    the stage may run fused with its upstream stage in one chain; sinks that size their own
    files set it false so their batches are theirs), ``default_batch_size`` (episodes per batch
    when the workflow's stage entry names none), ``input_fields`` (config fields that name files,
    folders or globs the stage reads: relative ones in a workflow file resolve against the file's
    folder) and ``name_or_path_fields`` (fields that hold a name or a path, such as a robot or a
    policy: resolved the same way when that file exists next to the workflow, else kept) and
    ``output_fields`` (fields naming what the stage writes: relative to the working directory;
    a sink's ``path``).
    """

    kind: ClassVar[str] = "stage"
    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    Config: ClassVar[type] = NoConfig
    resources: ClassVar[Resources] = Resources()
    use_actors: ClassVar[bool] = False
    fusable: ClassVar[bool] = True
    default_batch_size: ClassVar[int | None] = None
    input_fields: ClassVar[tuple[str, ...]] = ()
    name_or_path_fields: ClassVar[tuple[str, ...]] = ()
    output_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any = None):
        if config is None:
            config = self.Config()
        if not dataclasses.is_dataclass(config):
            raise TypeError(f"{type(self).__name__}: config must be a {self.Config.__name__}")
        self.config = config

    def setup(self) -> None:
        """Prepare the worker: load models, build scenes. Runs once per worker process."""

    @classmethod
    def requires(cls, config: Any) -> Wiring:
        """The step arrays and cameras this stage needs in its input episodes (checked when a
        workflow is validated, against what the upstream stages produce)."""
        return Wiring.needs()

    @classmethod
    def produces(cls, config: Any, upstream: Wiring) -> Wiring:
        """What this stage's output episodes carry, given what its inputs carry. Transforms pass
        their inputs through by default; a source's default is open (known when running)."""
        return upstream

    @classmethod
    def fingerprint(cls, config: Any) -> dict[str, Any]:
        """What decides this stage's outputs besides its parameters (the contents of a file a
        parameter names...); part of its hash, so editing that file recomputes the stage."""
        return {}

    @classmethod
    def summary(cls) -> str:
        """The first sentence of the class docstring (its first paragraph, joined)."""
        doc = inspect.getdoc(cls) or ""
        para = " ".join(doc.split("\n\n")[0].split())
        head, dot, _ = para.partition(". ")
        return head + "." if dot else para


@dataclass(frozen=True)
class Unreadable:
    """Yielded by a source's ``read`` in place of an episode it could not read: that item (one
    episode, one sample, one file) is quarantined with ``error`` and the rest of the read unit goes
    on. ``key`` names the item within its shard (``episode_index=12``, ``shard-0003.tar:abc``)."""

    key: str
    error: BaseException


class SourceStage(Stage):
    """A stage that produces episodes from outside (files, simulators, datasets)."""

    kind: ClassVar[str] = "source"

    @classmethod
    def produces(cls, config: Any, upstream: Wiring) -> Wiring:
        return Wiring(open=True)

    @classmethod
    def expected_items(cls, config: Any) -> int | None:
        """How many items the source will read, when its config says (a progress total); None
        when only reading tells (the default)."""
        return None

    @classmethod
    def input_paths(cls, config: Any) -> list[str]:
        """The files or folders this source reads (default: its config's ``path``, if any)."""
        path = getattr(config, "path", None)
        return [path] if isinstance(path, str) and path else []

    @classmethod
    def fingerprint(cls, config: Any) -> dict[str, Any]:
        """What :meth:`input_paths` lists (names, sizes, mtimes; see
        :func:`datapipe.storage.fingerprint_files`): a file added, replaced or edited under a
        source's paths recomputes it instead of reusing its earlier output."""
        paths = cls.input_paths(config)
        return {"inputs": fingerprint_files(paths)} if paths else {}

    def shards(self) -> list[str]:
        """Names of independent read units (files, seed ranges...), read in parallel.

        Names must be stable across runs: resume skips shards already read. Default: one shard.
        """
        return ["all"]

    def read(self, shard: str) -> Iterable[Episode | Unreadable]:
        """The episodes of one shard; an item that cannot be read is yielded as
        :class:`Unreadable` so that it alone is quarantined."""
        raise NotImplementedError


class Transform(Stage):
    """A stage that maps one episode to zero, one or several episodes."""

    kind: ClassVar[str] = "transform"

    def process(self, episode: Episode) -> Iterable[Episode]:
        """Outputs for one input episode: none filters it out, several fan out."""
        raise NotImplementedError


class SinkStage(Stage):
    """A stage that writes episodes somewhere and finalizes the result once all are written.

    ``write`` is called with batches of episodes and a part name that is stable for that batch;
    it must write atomically (temporary name, then rename) and writing the same part twice must
    replace, not duplicate. ``finalize`` runs once on the driver with the receipts of every
    committed part (of this run and of interrupted earlier runs) and must drop files of parts that
    have no receipt (left by a crash between the write and the commit).
    """

    kind: ClassVar[str] = "sink"
    output_fields: ClassVar[tuple[str, ...]] = ("path",)

    def write(self, episodes: list[Episode], part: str) -> dict[str, Any]:
        """Write one part; return a JSON-able receipt (file names, counts...).

        An episode that cannot be written (a malformed record, a video whose frames do not match
        its steps) should cost that episode only: hand it to :meth:`reject` (or use :meth:`each`)
        and write the rest; the runner quarantines rejected episodes. An exception out of
        ``write`` fails every episode of the batch."""
        raise NotImplementedError

    def reject(self, episode: Episode, error: BaseException) -> None:
        """Set ``episode`` aside as failed (quarantined by the runner with ``error``)."""
        self.__dict__.setdefault("_rejected", []).append((episode, error))

    def each(self, episodes: list[Episode], fn: Any) -> list[tuple[Episode, Any]]:
        """``(episode, fn(episode))`` for every episode where ``fn`` succeeds; the others are
        :meth:`reject`-ed with their exception."""
        out = []
        for ep in episodes:
            try:
                out.append((ep, fn(ep)))
            except Exception as exc:
                self.reject(ep, exc)
        return out

    def take_rejected(self) -> list[tuple[Episode, BaseException]]:
        """The episodes rejected since the last call (the runner calls this after ``write``)."""
        return self.__dict__.pop("_rejected", [])

    def finalize(self, receipts: list[dict[str, Any]]) -> dict[str, Any]:
        """Write indexes / manifests from all receipts; return a JSON-able summary.

        It may run again after a crash (a kill after it but before the stage's completion
        marker): it must not consume what it reads. Remove such inputs in :meth:`cleanup`."""
        return {}

    def cleanup(self) -> None:
        """Remove what ``finalize`` read and no longer needs (staged parts), once the stage's
        completion is recorded; also called for a sink reused as complete (a kill may have come
        between the marker and the cleanup). Must be idempotent."""

    @classmethod
    def describe(cls, result: dict[str, Any]) -> list[str]:
        """Lines that tell a person what ``finalize`` wrote (printed after the run)."""
        return []

"""Sink outputs that know who wrote them: a sink owns only what it wrote.

A sink that writes into a folder (``sink.parquet``, ``sink.webdataset``, ``sink.lerobot``,
``audit.report``) keeps an ownership record in it, ``.datapipe-owner.json``::

    {"format": "datapipe.owner/1", "run": RUN_URI, "stage_id": "shards", "uses": "sink.webdataset",
     "hash": STAGE_HASH, "state": "writing" | "complete",
     "files": [paths relative to the folder, written by the last complete run],
     "foreign": [paths that were there before datapipe first wrote here (overwrite: true)]}

Rules, applied on the driver when a run starts, before anything runs (:func:`claim_sink_output`):

- a folder that is absent or empty, with no record, is claimed: the record (state ``writing``) is
  written at once, so a second run that starts while the first is writing is refused; a run
  that ends without completing the sink marks its claim ``stopped`` (:func:`release_sink_claim`),
  and an empty folder with a stopped claim is free again;
- a folder whose record names the same run directory and stage id is ours: it is claimed again
  (a changed config rewrites it, a crashed run resumes);
- any other folder, with another run's or stage's record (writing or complete) or files datapipe
  did not write, is refused with :class:`OutputNotOwnedError` (bad input, exit 2) unless the
  stage's config says ``overwrite: true``: then every file already there, another run's dataset
  included, is recorded as foreign and never deleted (same-named files are replaced).

Before it finalizes, a sink checks that the record still names its run and stage
(:func:`check_sink_claim`): a run that was taken over deletes nothing. Temporary files of
crashed writes (datapipe's own pattern only, :func:`datapipe.storage.is_temporary`) are removed
from the whole folder when the sink completes.

Reuse is true (:func:`sink_output_matches`): a sink completed by an earlier run is reused only
when the record says the folder holds the output of this very stage hash, complete, with every
recorded file present; otherwise the sink runs again. When it finalizes, a sink deletes only
what is its own and not part of its new output (:meth:`OwnedOutput.removable`): files its last
complete output recorded, and files named as it names them (parts of batches that never
committed), never foreign ones; a file someone else put there under another name is kept.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Callable
from typing import Any

import pyarrow.fs as pafs

from datapipe.errors import DatapipeError
from datapipe.formats.staging import STAGING as STAGING_DIR
from datapipe.storage import Location, is_temporary, resolve

OWNER_FILE = ".datapipe-owner.json"
OWNER_FORMAT = "datapipe.owner/1"


class OutputNotOwnedError(DatapipeError):
    """A sink was asked to write into a non-empty folder that it did not write."""


class OwnedOutput:
    """The output folder of one sink and its ownership record."""

    def __init__(self, root: str | Location):
        self.root = root if isinstance(root, Location) else resolve(root)
        self.record_file = self.root.join(OWNER_FILE)

    def record(self) -> dict[str, Any] | None:
        """The ownership record, or ``None`` when there is none (or it is unreadable)."""
        if not self.record_file.exists():
            return None
        try:
            doc = json.loads(self.record_file.read_bytes())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) and doc.get("format") == OWNER_FORMAT else None

    def files(self) -> list[str]:
        """Every file under the folder (relative paths), without the record, staging and temporaries."""
        if not self.root.exists():
            return []
        info = self.root.fs.get_file_info(self.root.path)
        if info.type == pafs.FileType.File:
            raise OutputNotOwnedError(f"{self.root.uri}: is a file, not a folder")
        out = []
        for i in self.root.fs.get_file_info(pafs.FileSelector(self.root.path, recursive=True)):
            if i.type != pafs.FileType.File:
                continue
            rel = posixpath.relpath(i.path, self.root.path)
            if rel == OWNER_FILE or rel.split("/")[0] == STAGING_DIR or is_temporary(rel):
                continue
            out.append(rel)
        return sorted(out)

    def write_record(self, doc: dict[str, Any]) -> None:
        self.record_file.write_bytes_atomic(json.dumps({**doc, "updated_at": time.time()}, indent=1).encode())

    def removable(self, keep: set[str], own_name: Callable[[str], bool] = lambda _f: False) -> list[str]:
        """Files this sink may delete now: not in ``keep`` (its new output), not foreign, and its
        own: recorded by its last complete output, or named as it names files (``own_name(path)``)."""
        record = self.record() or {}
        foreign, recorded = set(record.get("foreign", [])), set(record.get("files", []))
        return [f for f in self.files() if f not in keep and f not in foreign and (f in recorded or own_name(f))]

    def complete(
        self, keep: set[str], own_name: Callable[[str], bool] = lambda _f: False, stale: list[str] | None = None
    ) -> int:
        """After the sink wrote its output ``keep``: delete what else of its own is there (``stale``
        when the caller listed it already, else :meth:`removable`), then record the output as
        complete. Returns how many were deleted."""
        stale = self.removable(keep, own_name) if stale is None else stale
        for rel in stale:
            self.root.join(rel).delete()
        self.root.remove_temporaries(recursive=True)  # of crashed writes, in subfolders too
        doc = self.record() or {"format": OWNER_FORMAT, "foreign": []}
        self.write_record({**doc, "state": "complete", "files": sorted(keep)})
        return len(stale)


def sink_output_path(stage: Any) -> str | None:
    """The folder a sink stage writes (its config's ``path``), or ``None`` when it has none.

    Raises :class:`OutputNotOwnedError` for an empty or blank path (validation refuses it first):
    it would resolve to the current directory."""
    path = getattr(stage.config, "path", None)
    if not isinstance(path, str):
        return None
    if not path.strip():
        raise OutputNotOwnedError(f"{stage.name}: field 'with.path' is empty ({path!r}); give the folder it writes")
    return path


def _describe_owner(record: dict[str, Any]) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.get("updated_at") or 0))
    if record.get("state") in ("writing", "stopped"):
        if record.get("state") == "stopped":
            return (
                f"stage {record.get('stage_id')!r} of the run directory {record.get('run')} wrote part of it "
                f"and stopped at {when}: run that workflow again to finish it"
            )
        return (
            f"stage {record.get('stage_id')!r} of the run directory {record.get('run')} claimed it at {when} "
            f"and is writing it (or crashed: run that workflow again to finish it)"
        )
    return f"it was written by stage {record.get('stage_id')!r} of the run directory {record.get('run')}"


def claim_sink_output(sp: Any, run_uri: str) -> None:
    """Make sure the sink of stage plan ``sp`` may write its folder, and record at once that it
    does (the claim is made when the run starts, so a second run into the folder is refused then,
    not overwritten at its end).

    A folder is this stage's when its record names this run directory and stage id; absent,
    empty and unrecorded, it is claimed. Anything else (another run's or stage's record, in any
    state, or files datapipe did not write) is refused with :class:`OutputNotOwnedError` naming
    the folder, unless ``overwrite: true``: then every file already there, another run's dataset
    included, is recorded as foreign and never deleted."""
    stage = sp.spec.instantiate()
    path = sink_output_path(stage)
    if path is None:
        return
    out = OwnedOutput(path)
    record = out.record()
    me = {
        "format": OWNER_FORMAT,
        "run": run_uri,
        "stage_id": sp.spec.id,
        "uses": sp.spec.uses,
        "hash": sp.out_hash,
        "state": "writing",
    }
    try:
        present = out.files()
    except OSError as exc:
        raise OutputNotOwnedError(f"stage {sp.spec.id!r}: path {out.root.uri}: cannot list it ({exc})") from None
    if record is not None and record.get("run") == run_uri and record.get("stage_id") == sp.spec.id:
        doc = {**record, **me}
    elif not present and (record is None or record.get("state") == "stopped"):
        doc = {**me, "files": [], "foreign": []}  # free, or a stopped run's claim on nothing
    elif getattr(stage.config, "overwrite", False):
        doc = {**me, "files": [], "foreign": present}
    else:
        who = (
            _describe_owner(record)
            if record
            else f"it holds {len(present)} file(s) datapipe did not write, e.g. {present[0]!r}"
        )
        raise OutputNotOwnedError(
            f"stage {sp.spec.id!r}: field 'with.path': {out.root.uri} is not "
            f"{'empty' if present else 'free'} and this stage does not own it ({who}); use an empty or new "
            f"folder, or set 'overwrite: true' to write there (files already there are never deleted)"
        )
    try:
        out.write_record(doc)
    except OSError as exc:
        raise OutputNotOwnedError(f"stage {sp.spec.id!r}: path {out.root.uri}: cannot write there ({exc})") from None


def release_sink_claim(stage: Any, stage_id: str, run_uri: str) -> None:
    """When a run ends without completing this sink (it failed or was interrupted): its claim
    says ``stopped``, so another run may take the folder while it holds nothing (files it holds
    are still refused or, with ``overwrite``, kept as foreign). A kill leaves ``writing``."""
    path = sink_output_path(stage)
    if path is None:
        return
    out = OwnedOutput(path)
    record = out.record()
    if record and record.get("run") == run_uri and record.get("stage_id") == stage_id:
        if record.get("state") == "writing":
            out.write_record({**record, "state": "stopped"})


def check_sink_claim(stage: Any, stage_id: str, run_uri: str) -> None:
    """Before a sink writes a batch and before it finalizes (deletes and replaces files): its
    folder must still be claimed by this run and stage. Raises :class:`OutputNotOwnedError` when
    another run took it over (``overwrite: true``) or the record was removed; the run stops there,
    and nothing of the other run is deleted."""
    path = sink_output_path(stage)
    if path is None:
        return
    out = OwnedOutput(path)
    record = out.record()
    if record is None or record.get("run") != run_uri or record.get("stage_id") != stage_id:
        who = _describe_owner(record) if record else "its ownership record is gone"
        raise OutputNotOwnedError(
            f"stage {stage_id!r}: {out.root.uri} is no longer this run's to write ({who}); "
            f"this run stops without deleting anything there"
        )


def sink_output_matches(sp: Any) -> bool:
    """Whether the folder of a completed sink still holds what that stage hash wrote."""
    path = sink_output_path(sp.spec.instantiate())
    if path is None:
        return True
    out = OwnedOutput(path)
    record = out.record()
    if (
        record is None
        or record.get("hash") != sp.out_hash
        or record.get("state") != "complete"
        or record.get("stage_id") != sp.spec.id
    ):
        return False
    return all(out.root.join(f).exists() for f in record.get("files", []))

"""Reading RLDS datasets (TFDS folders, as Open X-Embodiment publishes them) without TensorFlow.

A TFDS dataset folder holds ``dataset_info.json`` (name, splits and shard lengths),
``features.json`` (the feature spec: a ``FeaturesDict`` with an episode's ``steps`` as a
``Dataset`` of per-step features, and ``episode_metadata``) and TFRecord files
``<name>-<split>.tfrecord-NNNNN-of-NNNNN``, one ``tf.train.Example`` per episode. Records are
framed and checked here (:func:`iter_tfrecords`: both CRC-32C checksums of every record) and
parsed with the ``tfrecord`` package's protobuf ``Example`` alone.

Decoding follows the spec: a per-step feature's values are the concatenation over the steps
(``float_list`` for float32, ``int64_list`` for integers and booleans, ``bytes_list`` for text,
encoded images and tensors with ``encoding: bytes``, one entry per step). Images become cameras;
``steps/action`` the action; ``steps/observation/<key>`` tensors the state (``state_keys``, else
``state``, else every float tensor in name order); ``steps/language_instruction`` the task;
``steps/reward`` the reward; ``is_terminal`` at the last step the success.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datapipe.errors import DatapipeError
from datapipe.records import CameraStream, Embodiment, Episode, Source, make_episode_id
from datapipe.storage import parse_json

READER_VERSION = "1"


class RldsReadError(DatapipeError):
    """An RLDS / TFDS folder that cannot be read; names the file and the feature."""


@dataclass(frozen=True)
class FeatureSpec:
    """One leaf of features.json: ``kind`` tensor, image or text; per-step ``shape``; numpy dtype;
    ``encoding`` (tensors: none or bytes; images: png or jpeg); ``per_step`` inside ``steps``."""

    name: str
    kind: str
    shape: tuple[int, ...]
    dtype: str
    encoding: str
    per_step: bool


def _shape(doc: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(d) for d in doc.get("shape", {}).get("dimensions", []))


def parse_features(doc: dict[str, Any], where: str, prefix: str = "", per_step: bool = False) -> list[FeatureSpec]:
    """The leaves of a TFDS ``features.json`` document, named by their ``/``-joined path."""
    cls = str(doc.get("pythonClassName", "")).rsplit(".", 1)[-1]
    if cls == "FeaturesDict":
        out = []
        for key, sub in doc.get("featuresDict", {}).get("features", {}).items():
            out += parse_features(sub, where, f"{prefix}{key}/", per_step)
        return out
    name = prefix.rstrip("/")
    if cls == "Dataset":
        return parse_features(doc["sequence"]["feature"], where, f"{name}/", per_step=True)
    if cls in ("Tensor", "Scalar"):
        t = doc["tensor"]
        return [FeatureSpec(name, "tensor", _shape(t), t.get("dtype", "float32"), t.get("encoding", "none"), per_step)]
    if cls == "Image":
        t = doc["image"]
        return [
            FeatureSpec(name, "image", _shape(t), t.get("dtype", "uint8"), t.get("encodingFormat", "png"), per_step)
        ]
    if cls == "Text":
        return [FeatureSpec(name, "text", (), "string", "none", per_step)]
    raise RldsReadError(f"{where}: feature {name!r}: unsupported TFDS feature class {cls!r}")


def _decode(spec: FeatureSpec, feature: Any, T: int | None, where: str) -> Any:
    """A feature of one parsed Example as numpy (per-step: ``(T, *shape)``) or text."""
    kind = feature.WhichOneof("kind")
    if spec.kind == "text":
        values = [v.decode("utf-8", "replace") for v in feature.bytes_list.value]
        return values if spec.per_step else (values[0] if values else "")
    if spec.kind == "image":
        import cv2

        frames = []
        for i, data in enumerate(feature.bytes_list.value):
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise RldsReadError(f"{where}: {spec.name}[{i}] is not a decodable {spec.encoding} image")
            frames.append(img[:, :, ::-1])  # PNG / JPEG decode as BGR
        return np.stack(frames) if frames else np.zeros((0, *spec.shape), np.uint8)
    dtype = np.dtype("bool" if spec.dtype == "bool" else spec.dtype)
    if spec.encoding == "bytes":
        arr = np.concatenate([np.frombuffer(v, dtype=dtype) for v in feature.bytes_list.value] or [np.zeros(0, dtype)])
    elif kind == "float_list":
        arr = np.asarray(feature.float_list.value, dtype=np.float32).astype(dtype)
    elif kind == "int64_list":
        arr = np.asarray(feature.int64_list.value, dtype=np.int64).astype(dtype)
    else:
        raise RldsReadError(f"{where}: {spec.name}: expected numbers, found {kind}")
    size = int(np.prod(spec.shape)) if spec.shape else 1
    n = T if spec.per_step else 1
    if n is not None and arr.size != n * size:
        raise RldsReadError(f"{where}: {spec.name}: {arr.size} values, expected {n} x {spec.shape}")
    return arr.reshape((-1, *spec.shape)) if spec.per_step else arr.reshape(spec.shape)


class RldsDataset:
    """A TFDS / RLDS dataset folder and one of its splits."""

    def __init__(
        self,
        path: str,
        split: str = "train",
        fps: float = 10.0,
        state_keys: tuple[str, ...] = (),
        camera_keys: tuple[str, ...] | None = None,
        robot: str = "",
    ):
        self.root = Path(path)
        self.split, self.fps, self.state_keys, self.camera_keys = split, fps, state_keys, camera_keys
        self.info = self._json("dataset_info.json")
        self.name = str(self.info.get("name") or self.root.parent.name)
        self.robot = robot or self.name
        self.features = {
            f.name: f for f in parse_features(self._json("features.json"), str(self.root / "features.json"))
        }
        if "steps/action" not in self.features:
            raise RldsReadError(f"{self.root}/features.json: no steps/action feature (has {sorted(self.features)})")
        splits = [s.get("name") for s in self.info.get("splits", [])]
        if splits and split not in splits:
            raise RldsReadError(f"{self.root}/dataset_info.json: no split {split!r} (splits: {splits})")
        self.files = sorted(self.root.glob(f"*-{split}.tfrecord*"))
        if not self.files:
            raise RldsReadError(f"{self.root}: no {split} TFRecord files (*-{split}.tfrecord-NNNNN-of-NNNNN)")

    def _json(self, name: str) -> dict[str, Any]:
        path = self.root / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RldsReadError(f"{path}: missing (not a TFDS dataset folder)") from None
        return parse_json(data, str(path), RldsReadError)

    def episodes(self, file: Path) -> Any:
        """``(index, Episode)`` of every record of one TFRecord file, in order."""
        from tfrecord import example_pb2

        try:
            for i, record in enumerate(iter_tfrecords(file)):
                example = example_pb2.Example()
                example.ParseFromString(bytes(record))
                yield i, self._episode(example, file, i)
        except RldsReadError:
            raise
        except Exception as exc:  # framing or CRC errors of a damaged file
            raise RldsReadError(f"{file}: cannot read TFRecords: {type(exc).__name__}: {exc}") from exc

    def _episode(self, example: Any, file: Path, index: int) -> Episode:
        where = f"{file}#{index}"
        feats = example.features.feature
        if "steps/action" not in feats:
            raise RldsReadError(f"{where}: record has no steps/action")
        action_spec = self.features["steps/action"]
        action = _decode(action_spec, feats["steps/action"], None, where)
        T = len(action)
        values = {n: _decode(s, feats[n], T, where) for n, s in self.features.items() if n in feats}
        obs = {n.removeprefix("steps/observation/"): v for n, v in values.items() if n.startswith("steps/observation/")}
        images = {k: v for k, v in obs.items() if self.features[f"steps/observation/{k}"].kind == "image"}
        tensors = {
            k: v for k, v in obs.items() if k not in images and isinstance(v, np.ndarray) and v.dtype.kind == "f"
        }
        keys = list(self.state_keys) or (["state"] if "state" in tensors else sorted(tensors))
        missing = [k for k in keys if k not in tensors]
        if missing or not keys:
            raise RldsReadError(f"{where}: no observation tensors {missing or keys} for the state (has {sorted(obs)})")
        steps: dict[str, np.ndarray] = {
            "action": action.reshape(T, -1).astype(np.float32),
            "observation.state": np.concatenate([tensors[k].reshape(T, -1) for k in keys], axis=1).astype(np.float32),
            "timestamp": np.arange(T, dtype=np.float64) / self.fps,
            "is_intervention": np.zeros(T, dtype=bool),
            "reward": np.asarray(values.get("steps/reward", np.zeros(T)), dtype=np.float32).reshape(T),
        }
        cams = {k: v for k, v in images.items() if self.camera_keys is None or k in self.camera_keys}
        cameras = {k: CameraStream.from_frames(v, self.fps) for k, v in cams.items()}
        texts = values.get("steps/language_instruction") or values.get("steps/observation/natural_language_instruction")
        task = next((t for t in texts or [] if t), "")
        terminal = values.get("steps/is_terminal")
        uri = f"rlds://{self.root.resolve()}"
        span = f"{self.split}:{file.name}#{index}"
        meta = {k.removeprefix("episode_metadata/"): v for k, v in values.items() if k.startswith("episode_metadata/")}
        return Episode(
            episode_id=make_episode_id(uri, span, READER_VERSION),
            source=Source(kind="community", uri=uri, span=span),
            embodiment=Embodiment(
                robot=self.robot,
                action_names=tuple(f"action[{i}]" for i in range(steps["action"].shape[1])),
                state_names=tuple(f"{k}[{i}]" for k in keys for i in range(tensors[k].reshape(T, -1).shape[1])),
                control_fps=self.fps,
            ),
            task=(task,),
            fps=self.fps,
            steps=steps,
            cameras=cameras,
            success=bool(np.asarray(terminal).reshape(-1)[-1]) if terminal is not None and T else None,
            meta={
                "rlds": {
                    "dataset": self.name,
                    "split": self.split,
                    "file": file.name,
                    "record": index,
                    "state_keys": keys,
                    "episode_metadata": {k: _jsonable(v) for k, v in meta.items()},
                }
            },
        )


def _masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data``."""
    import crc32c

    crc = crc32c.crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def iter_tfrecords(path: Path) -> Iterator[bytes]:
    """The records of one TFRecord file, each checked against its two CRC-32C checksums (of the
    length and of the data), which TFRecord writers store and the ``tfrecord`` package reads but
    never checks. Raises :class:`RldsReadError` naming the file, the record and its byte offset
    for a flipped bit, a truncation or a length beyond the file, and for a file with no record."""
    size = path.stat().st_size
    n = 0
    with open(path, "rb") as f:
        while True:
            offset = f.tell()
            head = f.read(12)
            if not head:
                break
            where = f"{path}: record {n} at byte {offset}"
            if len(head) < 12:
                raise RldsReadError(f"{where}: truncated inside its length")
            length_bytes, length_crc = head[:8], struct.unpack("<I", head[8:])[0]
            if _masked_crc(length_bytes) != length_crc:
                raise RldsReadError(f"{where}: the length's CRC does not match (damaged)")
            (length,) = struct.unpack("<Q", length_bytes)
            if length > size - offset - 16:
                raise RldsReadError(f"{where}: a length of {length} bytes runs past the file's end (truncated)")
            data = f.read(length)
            tail = f.read(4)
            if len(tail) < 4:
                raise RldsReadError(f"{where}: truncated inside its checksum")
            if _masked_crc(data) != struct.unpack("<I", tail)[0]:
                raise RldsReadError(f"{where}: the data's CRC does not match (damaged)")
            n += 1
            yield data
    if n == 0:
        raise RldsReadError(f"{path}: holds no records (an empty TFRecord file)")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value

"""Remote files over a loopback server of the test's own that answers 503 first and then cuts
every body in half: the reader retries, resumes with Range requests and returns the whole file;
what retrying cannot mend (404, a server that ignores Range) fails naming the URL."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from datapipe.http_io import open_url


class Faulty(BaseHTTPRequestHandler):
    """Serves ``root``; the first GET of each file answers 503, the second sends half of the body
    and closes the connection; ``Range: bytes=N-`` is honoured unless ``ignore_range``."""

    root = Path()
    ignore_range = False
    seen: list[tuple[str, str]] = []
    _lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.root / self.path.lstrip("/")
        asked = self.headers.get("Range", "")
        with self._lock:
            tries = sum(p == self.path for p, _ in Faulty.seen)
            Faulty.seen.append((self.path, asked))
        first, second = tries == 0, tries == 1
        if first:
            self._answer(503, b"busy")
            return
        if not path.is_file():
            self._answer(404, b"no")
            return
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", asked)
        if match and not self.ignore_range:
            start = int(match[1])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not second:
            self.wfile.write(data)
            return
        self.wfile.write(data[: len(data) // 2])  # then the connection drops
        self.wfile.flush()
        self.close_connection = True

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def faulty(tmp_path):
    Faulty.root, Faulty.ignore_range, Faulty.seen = tmp_path, False, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_busy_server_and_a_dropped_body_still_give_the_whole_file(faulty):
    folder, url = faulty
    payload = bytes(range(256)) * 4000  # ~1 MB
    (folder / "blob.bin").write_bytes(payload)
    with open_url(f"{url}/blob.bin", backoff_s=0.01) as f:
        assert f.read() == payload
    asked = [r for p, r in Faulty.seen if p == "/blob.bin"]
    assert asked[:2] == ["", ""] and len(asked) == 3  # 503, half a body, then the rest from where it stopped
    resumed_at = int(asked[2].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= len(payload) // 2


def test_what_retries_cannot_mend_fails_naming_the_url(faulty):
    folder, url = faulty
    with pytest.raises(FileNotFoundError, match=r"/gone\.bin: HTTP 404"):
        open_url(f"{url}/gone.bin", backoff_s=0.01)
    (folder / "blob.bin").write_bytes(b"x" * 100_000)
    Faulty.ignore_range = True
    with (
        pytest.raises(OSError, match=r"blob\.bin: HTTP 200 \(expected 206\)"),
        open_url(f"{url}/blob.bin", backoff_s=0.01) as f,
    ):
        f.read()


def test_a_shard_stream_over_a_faulty_server_reads_every_sample(faulty, tmp_path_factory):
    from datapipe.engine.run import run_workflow
    from datapipe.engine.workflow import parse_workflow
    from datapipe.training import ShardStream

    folder, url = faulty
    doc = {
        "name": "http",
        "stages": [
            {
                "id": "src",
                "uses": "source.synthetic",
                "with": {
                    "episodes": 4,
                    "seed": 1,
                    "min_length": 6,
                    "max_length": 10,
                    "cameras": ["front"],
                    "image_size": [16, 16],
                },
            },
            {"id": "out", "uses": "sink.webdataset", "needs": ["src"], "with": {"path": str(folder / "ds")}},
        ],
    }
    run = tmp_path_factory.mktemp("run")
    assert run_workflow(parse_workflow(doc, "http.yaml"), out=str(run), runner="local", progress=False).ok
    local = [(s["episode_id"], s["frame_index"]) for s in ShardStream(str(folder / "ds"), shuffle=False)]
    remote = [(s["episode_id"], s["frame_index"]) for s in ShardStream(f"{url}/ds", shuffle=False)]
    assert remote == local and local

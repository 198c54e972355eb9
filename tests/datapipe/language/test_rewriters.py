"""The chat endpoint rewriter against a loopback server of the test's own that rate-limits, fails
and answers: retried answers succeed, answers that retrying cannot mend fail at once."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from datapipe.language.rewriters import ChatRewriter, RewriteError


class Flaky(BaseHTTPRequestHandler):
    """Answers the statuses in ``script`` in turn, then 200 with a chat completion."""

    script: list[int] = []
    seen: list[float] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        Flaky.seen.append(time.monotonic())
        status = Flaky.script.pop(0) if Flaky.script else 200
        body = b'{"error": "slow down"}'
        if status == 200:
            body = json.dumps({"choices": [{"message": {"content": "Pick up the red block."}}]}).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Flaky.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_rate_limits_and_busy_servers_are_retried_with_backoff(flaky):
    Flaky.script = [429, 503, 502]
    rewriter = ChatRewriter(flaky, "m", retries=4, backoff_s=0.05)
    assert rewriter.rewrite("pick up red block") == "Pick up the red block."
    assert len(Flaky.seen) == 4
    assert Flaky.seen[1] - Flaky.seen[0] >= 0.9  # the 429's Retry-After: 1 was honoured


def test_retries_used_up_name_the_last_answer(flaky):
    Flaky.script = [503] * 10
    with pytest.raises(RewriteError, match="HTTP 503"):
        ChatRewriter(flaky, "m", retries=2, backoff_s=0.01).rewrite("x")
    assert len(Flaky.seen) == 3  # the first try and two retries


def test_answers_retrying_cannot_mend_fail_at_once(flaky):
    Flaky.script = [400]
    with pytest.raises(RewriteError, match="HTTP 400"):
        ChatRewriter(flaky, "m", retries=4, backoff_s=0.01).rewrite("x")
    assert len(Flaky.seen) == 1


def test_a_server_that_is_not_there_is_a_rewrite_error():
    with socket.socket() as sock:  # a loopback port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RewriteError, match=f"127.0.0.1:{port}"):
        ChatRewriter(f"http://127.0.0.1:{port}/v1", "m", retries=1, backoff_s=0.01, timeout_s=2).rewrite("x")

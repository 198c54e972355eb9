"""HTTP(S) with retries: one urllib3 connection pool per process and retry setting
(:func:`http_pool`), and a remote file that survives transient failures (:func:`open_url`).

A refused connection, a timeout, or an answer in :data:`RETRY_STATUSES` (rate limits among them)
is tried again with exponential backoff (``backoff_s`` x 2^n seconds, at most 60 s, or what the
server's ``Retry-After`` asks) through urllib3's :class:`~urllib3.util.Retry`. A connection that
drops in the middle of a body is resumed where it stopped with a ``Range`` request, so one
transient error does not end a training run that streams shards of hundreds of megabytes.

Why urllib3 and not fsspec: fsspec's HTTP filesystem needs aiohttp (not installed, and an asyncio
event loop in every data-loader worker) and retries nothing by itself; urllib3 ships with the
dependencies already and its Retry does exactly the policy above.
"""

from __future__ import annotations

import functools
import io
import time
from typing import Any

import urllib3

# answers worth asking again: rate limited, or the server (or a proxy before it) is busy or down
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
_DROPPED = (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError, ConnectionError)


@functools.cache
def http_pool(retries: int = 5, backoff_s: float = 0.5, timeout_s: float = 60.0) -> urllib3.PoolManager:
    """A pool whose requests retry (see the module docstring); the last answer is returned, not
    raised, when retries run out. One per process and setting (a Ray worker opens its own)."""
    retry = urllib3.util.Retry(
        total=retries,
        backoff_factor=backoff_s,
        backoff_max=60.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,  # POST too: the callers' requests have no side effect
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    return urllib3.PoolManager(retries=retry, timeout=urllib3.util.Timeout(total=timeout_s))


class RemoteFile(io.RawIOBase):
    """A read-only stream of one URL, fetched lazily; a body cut short is resumed from the byte
    where it stopped (``Range: bytes=N-``), up to ``resumes`` times per file, waiting
    ``backoff_s`` x 2^n seconds between tries. Raises :class:`OSError` naming the URL when the
    server answers anything but the file (``FileNotFoundError`` for 404)."""

    def __init__(self, url: str, retries: int = 5, backoff_s: float = 0.5, timeout_s: float = 60.0, resumes: int = 5):
        super().__init__()
        self.url = url
        self.position = 0  # bytes delivered so far
        self._pool = http_pool(retries, backoff_s, timeout_s)
        self._backoff_s = backoff_s
        self._resumes_left = resumes
        self._resumed = 0
        self._size: int | None = None
        self._response: Any = self._request()

    def _request(self) -> Any:
        headers = {"Accept-Encoding": "identity"}  # byte offsets must be those of the file itself
        if self.position:
            headers["Range"] = f"bytes={self.position}-"
        try:
            response = self._pool.request("GET", self.url, headers=headers, preload_content=False)
        except urllib3.exceptions.HTTPError as exc:  # refused, timed out, retries used up
            raise OSError(f"{self.url}: {exc}") from exc
        expected = 206 if self.position else 200
        if response.status != expected:
            response.release_conn()
            if response.status == 404:
                raise FileNotFoundError(f"{self.url}: HTTP 404")
            raise OSError(f"{self.url}: HTTP {response.status} (expected {expected})")
        if self._size is None and response.headers.get("Content-Length"):
            self._size = int(response.headers["Content-Length"])
        return response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            try:
                data = self._response.read1(len(view))  # what has come: a drop loses nothing read
                if not data and self._size is not None and self.position < self._size:
                    raise urllib3.exceptions.ProtocolError(f"body ended at byte {self.position} of {self._size}")
                break
            except _DROPPED as exc:
                self._resume(exc)
        view[: len(data)] = data
        self.position += len(data)
        return len(data)

    def _resume(self, exc: BaseException) -> None:
        if self._resumes_left <= 0:
            raise OSError(f"{self.url}: connection dropped at byte {self.position} and resuming failed: {exc}") from exc
        self._resumes_left -= 1
        self._response.release_conn()
        time.sleep(min(60.0, self._backoff_s * 2**self._resumed))
        self._resumed += 1
        self._response = self._request()

    def close(self) -> None:
        if not self.closed:
            self._response.release_conn()
        super().close()


def open_url(url: str, **retry: Any) -> io.BufferedReader:
    """A buffered binary stream of ``url`` (see :class:`RemoteFile` for ``retry``'s keywords)."""
    return io.BufferedReader(RemoteFile(url, **retry), buffer_size=1 << 20)

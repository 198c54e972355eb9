"""A teleoperation server on loopback (uvicorn in a thread of this process) and a headless
Chromium (Debian's, through Playwright; no browser download): what the browser tests and the
teleop benchmark drive."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from datapipe.teleop.commands import free_port
from datapipe.teleop.http_limits import server_options
from datapipe.teleop.server import ServerSettings, TeleopSession, create_app


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def running_server(settings: ServerSettings) -> Iterator[tuple[str, TeleopSession]]:
    """Serve ``settings`` on 127.0.0.1 at a free port; yield (base URL, session)."""
    import uvicorn

    session = TeleopSession(settings)
    session.start()
    port = free_port("127.0.0.1")
    config = uvicorn.Config(
        create_app(session),
        host="127.0.0.1",
        port=port,
        **server_options(),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the teleop server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", session
    finally:
        server.should_exit = True
        thread.join(10)
        session.stop()


@contextlib.contextmanager
def chromium(fake_camera: Path | None = None) -> Iterator[object]:
    """A headless Chromium (Debian's, no download); ``fake_camera`` (.y4m or .mjpeg) is its webcam."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
    if fake_camera is not None:
        args.append(f"--use-file-for-fake-video-capture={fake_camera}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=args)
        try:
            yield browser
        finally:
            browser.close()

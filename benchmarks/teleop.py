"""Teleoperation latency and frame rate (``python -m benchmarks teleop``): a Playwright client in
headless Chromium on loopback opens one WebSocket per robot, acknowledges each JPEG frame once it
has decoded it (one frame in flight), and sends a move command 20 times a second per robot,
alternating direction so the view keeps changing. Measured per run of ``SECONDS``:

- command round trip: from sending a move to its acknowledgement (validated and handed to the
  robot), p50 and p95; the baseline in the same run is a ``ping`` (the same socket, no command);
- frame age: from the server rendering a frame to the browser having decoded it, p50 and p95;
- frames/s per robot at 320x240, with 1 and with 4 robots.

Targets: round trip p50 < 20 ms; frame age p50 < 50 ms and p95 < 150 ms; >= 15 frames/s per
robot with 4 robots on 2 cores.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SECONDS = float(os.environ.get("BENCH_TELEOP_SECONDS", "10"))

CLIENT = "\n".join(  # the function, without its leading comment
    line for line in (Path(__file__).parent / "teleop_client.js").read_text().splitlines() if not line.startswith("//")
)


def measure(robots: int) -> list[dict]:
    from datapipe.teleop.loopback import chromium, running_server
    from datapipe.teleop.robot import RobotSettings
    from datapipe.teleop.server import ServerSettings

    settings = ServerSettings(robots=robots, robot=RobotSettings(image_size=(240, 320)))
    with running_server(settings) as (url, _session), chromium() as browser:
        page = browser.new_page()
        page.goto(f"{url}/static/style.css?token={settings.token}")  # same origin, no page scripts
        return page.evaluate(CLIENT, [robots, settings.token, SECONDS])


def main() -> None:
    os.environ.setdefault("LP_NUM_THREADS", "1")  # several renderers share the cores
    started = time.perf_counter()
    for robots in (1, 4):
        per = measure(robots)
        fps = min(r["fps"] for r in per)
        rtt50 = max(r["rtt50"] for r in per)
        rtt95 = max(r["rtt95"] for r in per)
        ping50 = max(r["ping50"] for r in per)
        age50 = max(r["age50"] for r in per)
        age95 = max(r["age95"] for r in per)
        print(
            f"teleop [{robots} robot{'s' if robots > 1 else ''}, 320x240]: command round trip p50 {rtt50:.1f} ms "
            f"p95 {rtt95:.1f} ms ({rtt50 / max(ping50, 1e-9):.2f}x a bare ping's {ping50:.1f} ms; target p50 < 20); "
            f"frame age p50 {age50:.0f} ms p95 {age95:.0f} ms (targets < 50, < 150); "
            f"{fps:.1f} frames/s per robot, slowest (target >= 15 with 4 robots)",
            flush=True,
        )
    print(f"teleop: {time.perf_counter() - started:.0f} s in all", flush=True)


if __name__ == "__main__":
    main()

"""``datapipe teleop``: the teleoperation web server (registered through the ``datapipe.commands``
entry point group).

    datapipe teleop [--host 127.0.0.1] [--port N] [--robots K] [--task TASK] [--policy SPEC]
                    [--out DATASET] [--format webdataset|lerobot]

It prints the page's URL with the session's token, as Jupyter does, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

from datapipe.generators.tasks import task_names


def view_size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT`` (pixels, each 16 to 4096) as ``(width, height)``; argparse reports a bad one."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit()) or not all(16 <= int(v) <= 4096 for v in (width, height)):
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT in pixels (16 to 4096 each, e.g. 320x240), got {text!r}"
        )
    return int(width), int(height)


def register(sub: Any) -> None:
    tp = sub.add_parser("teleop", help="drive simulated robots from a browser; supervise policies; record episodes")
    tp.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    tp.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    tp.add_argument("--robots", type=int, default=1, help="simulated robots, one simulation thread each")
    tp.add_argument("--task", default="pick_place", choices=task_names(), help="the simulated task")
    tp.add_argument("--robot", default="franka_emika_panda", help="built-in robot or robot config YAML")
    tp.add_argument("--policy", default="", help="expert, a checkpoint folder or ws://host:port (autonomous mode)")
    tp.add_argument("--out", default="", help="dataset folder the episodes are written to (appended to)")
    tp.add_argument(
        "--format",
        default="webdataset",
        choices=("webdataset", "lerobot"),
        help="dataset format the episodes are written in",
    )
    tp.add_argument("--operator", default="operator", help="operator id recorded with each episode")
    tp.add_argument("--fps", type=float, default=20.0, help="control and view rate, Hz")
    tp.add_argument("--size", default="320x240", type=view_size, help="view size WIDTHxHEIGHT, pixels")
    tp.add_argument("--stall-seconds", type=float, default=4.0, help="no progress for this long (s): ask for help")
    tp.add_argument("--token", default="", help="access token (default: a random one)")
    tp.set_defaults(handler=run)


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from datapipe.teleop.http_limits import server_options
    from datapipe.teleop.robot import RobotSettings
    from datapipe.teleop.server import ServerSettings, TeleopSession, create_app

    os.environ.setdefault("LP_NUM_THREADS", "1")  # each robot's software renderer keeps to one core
    width, height = args.size
    if args.robots < 1:
        raise SystemExit("--robots: at least 1")
    if not args.out:
        print("note: no --out: episodes are not written anywhere")
    robot = RobotSettings(
        task=args.task,
        robot=args.robot,
        fps=args.fps,
        image_size=(height, width),
        policy=args.policy,
        operator=args.operator,
    )
    settings = ServerSettings(robots=args.robots, robot=robot, out=args.out, format=args.format)
    settings.stall_seconds = args.stall_seconds
    if args.token:
        settings.token = args.token
    session = TeleopSession(settings)
    session.start()
    port = args.port or free_port(args.host)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    print(f"datapipe teleop: {args.robots} robot(s), task {args.task}; open", flush=True)
    print(f"    http://{shown}:{port}/?token={settings.token}", flush=True)
    try:
        uvicorn.run(
            create_app(session),
            host=args.host,
            port=port,
            **server_options(),
        )
    finally:
        session.stop()
    return 0

"""The teleoperation web server: FastAPI under uvicorn, one page, one WebSocket per robot.

Security: the server binds to 127.0.0.1 unless told otherwise; every request needs the session's
random token (``?token=`` or the cookie the page sets): missing 401, wrong 403, and a WebSocket
without it is refused at the handshake, as is one whose ``Origin`` is not the page's own. Only one
client controls a robot at a time (the first to claim it); others watch.

Protocol on ``/ws/robot/{i}``: the server sends binary frames (8-byte little-endian float64
render time in ms since the epoch, 4-byte uint32 step, then the JPEG) one at a time: the next
frame goes out after the client's ``{"type": "ack"}``, and it is always the latest. It also sends
``{"type": "status", ...}`` five times a second. The client sends JSON commands (``move``,
``drag``, ``drag_end``, ``mode``, ``rewind``, ``finish``, ``estop``, ``instruction``, ``claim``,
``release``, ``heartbeat``, ``ping``, ``next``) and binary webcam JPEG frames; each command is
answered with ``{"type": "ok", "for": ...}`` or ``{"type": "error", "for": ..., "error": ...}``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse

from datapipe.errors import DatapipeError
from datapipe.teleop.control import (
    MAX_BINARY_BYTES,
    CommandError,
    Move,
    parse_message,
    parse_move,
)
from datapipe.teleop.recording import DatasetRecorder
from datapipe.teleop.robot import RobotSession, RobotSettings
from datapipe.teleop.sentinel import HelpQueue, Predictor, Sentinel, default_predictors

log = logging.getLogger("datapipe.teleop")
STATIC = Path(__file__).parent / "static"
COOKIE = "datapipe_teleop_token"
DRAG_SCALE_M = 0.6  # end-effector travel (m) of a drag across the whole view


@dataclass
class ServerSettings:
    robots: int = 1
    robot: RobotSettings = field(default_factory=RobotSettings)
    out: str = ""  # dataset folder; empty: nothing is written
    format: str = "webdataset"
    stall_seconds: float = 4.0
    # the failure predictors of each robot (default: teleop.sentinel.default_predictors)
    predictors: Callable[[], list[Predictor]] | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class TeleopSession:
    """The robots, the help queue and the recorder of one server run."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.session_id = uuid.uuid4().hex[:12]
        self.recorder = DatasetRecorder(settings.out, settings.format) if settings.out else None
        self.queue = HelpQueue()
        robot = RobotSettings(**{**settings.robot.__dict__, "session": self.session_id})
        self.robots = [
            RobotSession(
                i,
                robot,
                self.recorder,
                Sentinel((settings.predictors or (lambda: default_predictors(settings.stall_seconds)))()),
                self.queue.push,
            )
            for i in range(settings.robots)
        ]
        self.webcams: dict[int, Any] = {}
        self.webcam_busy: set[int] = set()

    def start(self) -> None:
        for r in self.robots:
            r.start()

    def stop(self) -> None:
        for r in self.robots:
            r.stop()
        for w in self.webcams.values():
            w.close()
        if self.recorder is not None:
            self.recorder.close()

    def overview(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "robots": [r.describe() for r in self.robots],
            "queue": self.queue.entries(),
            "episodes_written": self.recorder.episodes if self.recorder else 0,
        }


def _token_ok(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def create_app(session: TeleopSession) -> FastAPI:
    app = FastAPI(title="datapipe teleop", docs_url=None, redoc_url=None, openapi_url=None)
    token = session.settings.token

    def check(request: Request) -> Any:
        given = request.query_params.get("token") or request.cookies.get(COOKIE)
        if given is None:
            return PlainTextResponse("401: this page needs the session's token (?token=...)", status_code=401)
        if not _token_ok(given, token):
            return PlainTextResponse("403: wrong token", status_code=403)
        return None

    @app.get("/")
    def index(request: Request):
        refused = check(request)
        if refused is not None:
            return refused
        response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/static/{name}")
    def static(name: str, request: Request):
        refused = check(request)
        if refused is not None:
            return refused
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            return PlainTextResponse("404", status_code=404)
        return FileResponse(path)

    @app.get("/api/robots")
    def robots(request: Request):
        refused = check(request)
        return refused if refused is not None else JSONResponse(session.overview())

    @app.websocket("/ws/robot/{index}")
    async def robot_socket(websocket: WebSocket, index: int):
        given = websocket.query_params.get("token") or websocket.cookies.get(COOKIE)
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host", "")
        if not _token_ok(given, token) or (origin is not None and urlparse(origin).netloc != host):
            await websocket.close(code=1008)  # before accept: the handshake is refused (HTTP 403)
            return
        if not 0 <= index < len(session.robots):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        client = RobotClient(session, session.robots[index], websocket, asyncio.get_running_loop())
        try:
            await client.serve()
        except WebSocketDisconnect:
            pass
        finally:
            client.close()

    return app


class RobotClient:
    """One browser connection to one robot."""

    def __init__(self, session: TeleopSession, robot: RobotSession, websocket: Any, loop: asyncio.AbstractEventLoop):
        self.session, self.robot, self.ws, self.loop = session, robot, websocket, loop
        self.id = uuid.uuid4().hex[:8]
        self.send_lock = asyncio.Lock()
        self.new_frame = asyncio.Event()
        self.acked = asyncio.Event()
        self.acked.set()
        self.unsubscribe = robot.subscribe(lambda: loop.call_soon_threadsafe(self.new_frame.set))
        self.tasks: list[asyncio.Task] = []

    async def send_json(self, doc: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_text(json.dumps(doc))  # ASCII escapes: any text can be sent

    async def serve(self) -> None:
        self.new_frame.set()
        self.tasks = [asyncio.create_task(self._frames()), asyncio.create_task(self._status())]
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            self.robot.last_seen = time.monotonic() if self.robot.controller == self.id else self.robot.last_seen
            if message.get("bytes") is not None:
                await self._webcam(message["bytes"])
                continue
            raw = message.get("text") or ""
            kind = "?"
            try:
                msg = parse_message(raw)
                kind = msg["type"]
                reply = await self._handle(msg)
                if reply is not None:
                    await self.send_json({"type": "ok", "for": kind, **reply})
            except DatapipeError as exc:  # a bad message, or an action the robot cannot take now
                await self.send_json({"type": "error", "for": kind, "error": str(exc)[:300]})
            except Exception as exc:  # a bug: logged with its traceback; the session goes on
                log.exception("teleop: %r message failed", kind)
                await self.send_json({"type": "error", "for": kind, "error": f"internal error: {exc!r}"[:300]})

    def _control(self) -> None:
        if self.robot.controller != self.id:
            raise CommandError("you are watching: another operator controls this robot (claim it when free)")

    async def _on_robot(self, fn: Any) -> Any:
        return await asyncio.wrap_future(self.robot.submit(fn))

    async def _handle(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        kind, robot = msg["type"], self.robot
        if kind == "ack":
            self.acked.set()
            return None
        if kind == "ping":
            return {"id": msg.get("id"), "server_ms": time.time() * 1000.0}
        if kind == "heartbeat":
            return None
        if kind == "claim":
            if robot.controller is None:
                robot.controller, robot.last_seen = self.id, time.monotonic()
            return {"controller": robot.controller == self.id}
        if kind == "release":
            if robot.controller == self.id:
                robot.controller = None
            return {}
        if kind == "estop":  # anyone watching may stop a robot
            engaged = bool(msg.get("engaged", True))
            await self._on_robot(lambda: robot.estop(engaged))
            return {"engaged": engaged}
        if kind == "next":
            nxt = self.session.queue.pop()
            return {"robot": nxt}
        self._control()
        if kind == "move":
            move = parse_move(msg)
            if msg.get("frame", "world") == "view":  # [right, away, up] as the operator sees it
                right, away = _view_axes(robot)
                move = Move(move.v[0] * right + move.v[1] * away + np.array([0, 0, move.v[2]]), move.w, move.gripper)
            robot.move, robot.move_time = move, time.monotonic()
            robot.goal = robot.goal_yaw = robot.goal_gripper = None
            return {"seq": msg.get("seq")}
        if kind == "drag":
            dx, dy = (_number(msg, k, 2.0) for k in ("dx", "dy"))
            await self._on_robot(lambda: _drag(robot, dx, dy, bool(msg.get("vertical", False))))
            return {"seq": msg.get("seq")}
        if kind == "drag_end":
            robot.goal = None
            return {}
        if kind == "mode":
            mode = str(msg.get("mode"))
            await self._on_robot(lambda: robot.set_mode(mode))
            self.session.queue.discard(robot.index)
            return {"mode": mode}
        if kind == "rewind":
            step = int(_number(msg, "step", 1e9))
            return await self._on_robot(lambda: robot.rewind(step))
        if kind == "instruction":
            text = str(msg.get("text", ""))[:500]
            robot.instruction_override = text.strip()
            return {"instruction": robot.instruction}
        if kind == "finish":
            if "instruction" in msg:
                robot.instruction_override = str(msg["instruction"])[:500].strip()
            success = msg.get("success")
            if not isinstance(success, bool):
                raise CommandError("success: expected true or false")
            result = await self._on_robot(lambda: robot.finish(success))
            robot.instruction_override = ""
            return result
        raise CommandError(f"unknown message type {kind!r}")

    async def _webcam(self, data: bytes) -> None:
        index = self.robot.index
        try:
            self._control()
            if len(data) > MAX_BINARY_BYTES:
                raise CommandError(f"webcam frame of {len(data)} bytes: at most {MAX_BINARY_BYTES}")
            if index in self.session.webcam_busy:
                await self.send_json({"type": "hand", "dropped": True})
                return
            self.session.webcam_busy.add(index)
            try:
                target = await asyncio.to_thread(self._track, data)
            finally:
                self.session.webcam_busy.discard(index)
            cam = self.session.webcams[index]
            doc: dict[str, Any] = {"type": "hand", "found": target is not None}
            doc.update(frames=cam.frames, hands=cam.hands)
            if target is not None:
                world = target.pos + np.array([0.0, 0.0, self.robot.table_top])
                self.robot.goal = self.robot.workspace.clip(world)
                self.robot.goal_yaw, self.robot.goal_gripper = target.yaw, target.gripper
                doc["target"] = [round(float(v), 4) for v in self.robot.goal]
                doc["gripper"] = target.gripper
            await self.send_json(doc)
        except DatapipeError as exc:
            await self.send_json({"type": "error", "for": "webcam", "error": str(exc)[:300]})

    def _track(self, data: bytes) -> Any:
        from datapipe.teleop.webcam import WebcamTeleop

        index = self.robot.index
        if index not in self.session.webcams:
            self.session.webcams[index] = WebcamTeleop()
        return self.session.webcams[index].process(data)

    async def _frames(self) -> None:
        while True:
            await self.new_frame.wait()
            await self.acked.wait()
            self.new_frame.clear()
            frame = self.robot.frame
            if frame is None:
                continue
            self.acked.clear()
            async with self.send_lock:
                await self.ws.send_bytes(struct.pack("<dI", frame.time_ms, frame.step) + frame.jpeg)

    async def _status(self) -> None:
        while True:
            doc = {"type": "status", "you": self.id, **self.robot.describe(), "queue": self.session.queue.entries()}
            doc["controlling"] = self.robot.controller == self.id
            await self.send_json(doc)
            await asyncio.sleep(0.2)

    def close(self) -> None:
        self.unsubscribe()
        for t in self.tasks:
            t.cancel()
        if self.robot.controller == self.id:
            self.robot.controller = None


def _number(msg: dict[str, Any], key: str, limit: float) -> float:
    value = msg.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or abs(value) > limit:
        raise CommandError(f"{key}: expected a number within +-{limit:g}, got {str(value)[:30]}")
    return float(value)


def _drag(robot: RobotSession, dx: float, dy: float, vertical: bool) -> None:
    """A pointer drag of (``dx``, ``dy``) view widths/heights moves the end-effector goal in the
    table plane as seen from the front camera (right and away), or up and down when vertical."""
    if robot.status.mode not in ("teleop", "correcting"):
        raise CommandError(f"the robot is {robot.status.mode}: take over (teleop) to drive it")
    base = robot.goal if robot.goal is not None else robot.target
    if vertical:
        delta = np.array([0.0, 0.0, -dy * DRAG_SCALE_M])
    else:
        right, away = _view_axes(robot)
        delta = (dx * right - dy * away) * DRAG_SCALE_M
    robot.goal = robot.workspace.clip(base + delta)
    robot.last_seen = time.monotonic()


def _view_axes(robot: RobotSession) -> tuple[np.ndarray, np.ndarray]:
    """The front camera's right and up directions flattened onto the table (world, unit): what
    the operator sees as right, and as away from them."""
    cam = robot.sim.model.camera(robot.generator.camera_name("front")).id
    R = robot.sim.data.cam_xmat[cam].reshape(3, 3)
    right = np.array([R[0, 0], R[1, 0], 0.0])
    away = np.array([R[0, 1], R[1, 1], 0.0])
    return right / max(np.linalg.norm(right), 1e-9), away / max(np.linalg.norm(away), 1e-9)

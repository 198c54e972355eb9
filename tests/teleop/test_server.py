"""The teleoperation server without a browser: the token and the Origin check, a bounded fuzz of
malformed messages, one controller per robot, the e-stop, and the failure predictors."""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from datapipe.teleop.loopback import running_server
from datapipe.teleop.robot import RobotSettings
from datapipe.teleop.sentinel import HelpQueue, JointLimits, NoProgress, ObjectDropped, RobotView
from datapipe.teleop.server import ServerSettings


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _reply(ws, kind: str) -> dict:
    """The next JSON reply to a command (frames and status messages skipped)."""
    while True:
        msg = ws.recv(timeout=10)
        if isinstance(msg, bytes):
            ws.send(json.dumps({"type": "ack"}))
            continue
        doc = json.loads(msg)
        if doc["type"] in ("ok", "error") and doc.get("for") == kind:
            return doc


@pytest.fixture(scope="module")
def server():
    settings = ServerSettings(robots=1, robot=RobotSettings())
    with running_server(settings) as (url, session):
        yield url, session, settings.token


def test_page_and_sockets_need_the_token_and_the_pages_origin(server):
    url, _, token = server
    assert _status(f"{url}/") == 401
    assert _status(f"{url}/?token=wrong") == 403
    assert _status(f"{url}/static/app.js") == 401
    assert _status(f"{url}/api/robots?token=nope") == 403
    assert _status(f"{url}/?token={token}") == 200
    assert _status(f"{url}/static/app.js?token={token}") == 200
    assert _status(f"{url}/static/..%2F..%2Fserver.py?token={token}") == 404
    ws_url = url.replace("http", "ws") + "/ws/robot/0"
    for bad in (ws_url, f"{ws_url}?token=wrong", f"{url.replace('http', 'ws')}/ws/robot/7?token={token}"):
        with pytest.raises(InvalidStatus) as refused:
            connect(bad, open_timeout=10)
        assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(f"{ws_url}?token={token}", origin="http://evil.example:80", open_timeout=10)
    with connect(f"{ws_url}?token={token}", origin=url, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "ping", "id": 1}))
        assert _reply(ws, "ping")["id"] == 1


def test_a_fuzz_of_malformed_messages_gets_errors_and_never_crashes_the_session(server):
    url, session, token = server
    rng = random.Random(7)
    ws_url = url.replace("http", "ws") + f"/ws/robot/0?token={token}"
    junk = [
        "",
        "{",
        "null",
        "[1, 2]",
        '{"type": 5}',
        '{"type": "move", "v": "fast"}',
        '{"type": "move", "v": [1, 2]}',
        '{"type": "move", "v": [NaN, 0, 0]}',
        '{"type": "move", "v": [1e308, 0, 0], "gripper": 3}',
        '{"type": "drag", "dx": "left"}',
        '{"type": "rewind", "step": -5}',
        '{"type": "rewind", "step": 10000000000}',
        '{"type": "mode", "mode": "fly"}',
        '{"type": "finish", "success": "yes"}',
        '{"type": "nope"}',
        "[" * 5000 + "]" * 5000,
        json.dumps({"type": "instruction", "text": "x" * 20000}),
        '{"type": "\\ud800"}',  # lone surrogates: dropped the session before
        '{"type": "instruction", "text": "pick \\udfff up"}',
        '{"\\ud83d": 1, "type": "ping"}',
    ]
    for _ in range(60):
        doc = {"type": rng.choice(["move", "drag", "mode", "rewind", "estop", "target", "claim"])}
        for key in rng.sample(["v", "w", "dx", "dy", "step", "mode", "gripper", "engaged"], 3):
            doc[key] = rng.choice([None, True, "s", -1e9, 3.5, [], {}, [1, "a", None], list(range(50))])
        junk.append(json.dumps(doc))
    with connect(ws_url, open_timeout=10, max_size=None) as ws:
        ws.send(json.dumps({"type": "claim"}))
        assert _reply(ws, "claim")["controller"] is True
        errors = 0
        for raw in junk:
            ws.send(raw)
            ws.send(json.dumps({"type": "ping", "id": raw[:8]}))
            while True:  # every message is answered, in order: an error or an ok, then the pong
                msg = ws.recv(timeout=10)
                if isinstance(msg, bytes):
                    ws.send(json.dumps({"type": "ack"}))
                    continue
                doc = json.loads(msg)
                errors += doc["type"] == "error"
                if doc["type"] == "ok" and doc["for"] == "ping":
                    break
        for blob in (b"\x00" * 100, b"\xff\xd8 not a jpeg", b"x" * 3_000_000):
            ws.send(blob)
            assert _reply(ws, "webcam")["type"] == "error"
        assert errors >= 20
        ws.send(json.dumps({"type": "estop", "engaged": False}))
        _reply(ws, "estop")
        ws.send(json.dumps({"type": "mode", "mode": "teleop"}))
        assert _reply(ws, "mode")["type"] == "ok"
    robot = session.robots[0]
    assert robot.thread.is_alive() and _status(f"{url}/api/robots?token={token}") == 200
    assert np.isfinite(robot.describe()["target"]).all()
    assert np.allclose(robot.workspace.clip(robot.target), robot.target)


def test_one_controller_per_robot_and_anyone_may_stop_it(server):
    url, session, token = server
    ws_url = url.replace("http", "ws") + f"/ws/robot/0?token={token}"
    with connect(ws_url, open_timeout=10) as first, connect(ws_url, open_timeout=10) as second:
        first.send(json.dumps({"type": "claim"}))
        assert _reply(first, "claim")["controller"] is True
        second.send(json.dumps({"type": "claim"}))
        assert _reply(second, "claim")["controller"] is False
        second.send(json.dumps({"type": "move", "v": [0.1, 0, 0]}))
        assert "another operator" in _reply(second, "move")["error"]
        second.send(json.dumps({"type": "estop", "engaged": True}))
        assert _reply(second, "estop")["type"] == "ok"
        assert session.robots[0].describe()["mode"] == "paused" and session.robots[0].status.estop
        first.send(json.dumps({"type": "mode", "mode": "teleop"}))
        assert "e-stop" in _reply(first, "mode")["error"]
        first.send(json.dumps({"type": "estop", "engaged": False}))
        _reply(first, "estop")
        first.send(json.dumps({"type": "mode", "mode": "teleop"}))
        assert _reply(first, "mode")["type"] == "ok"
    assert session.robots[0].controller is None  # released when its operator left


def _view(t: float, ee=(0.5, 0, 1.0), objects=((0.5, 0.1, 0.8),), start=((0.5, 0.1, 0.8),), grip=1.0, frac=0.5):
    return RobotView(t, np.array(ee), np.array(objects), np.array(start), 0.78, grip, np.full(7, frac))


def test_failure_predictors_and_the_help_queue():
    stall = NoProgress(seconds=2.0)
    assert all(stall.check(_view(t / 20)) is None for t in range(40))
    assert "no progress" in stall.check(_view(2.05)).reason
    moving = NoProgress(seconds=2.0)
    assert all(moving.check(_view(t / 20, ee=(0.5 + t * 0.001, 0, 1))) is None for t in range(80))
    drop = ObjectDropped()
    assert drop.check(_view(0, objects=((0.5, 0.1, 0.9),), grip=0.0)) is None  # lifted
    assert drop.check(_view(0.1, objects=((0.5, 0.1, 0.8),), grip=0.0)).reason == "object 0 dropped"
    assert "fell off" in ObjectDropped().check(_view(0, objects=((0.5, 0.1, 0.5),))).reason
    assert JointLimits().check(_view(0, frac=0.999)) is not None and JointLimits().check(_view(0)) is None
    q = HelpQueue()
    q.push(0, stall.check(_view(4.2)) or NoProgress().check(_view(0)) or _alert(1))
    q.push(1, _alert(3))
    q.push(2, _alert(1))
    assert [e["robot"] for e in q.entries()] == [1, 0, 2]
    q.discard(1)
    assert q.pop() == 0 and q.pop() == 2 and q.pop() is None


def _alert(severity: int):
    from datapipe.teleop.sentinel import Alert

    return Alert(f"severity {severity}", severity)


def test_releasing_stops_the_robot_and_a_lost_heartbeat_puts_it_on_hold(server):
    import time

    from datapipe.teleop.control import HEARTBEAT_TIMEOUT_S, HOLD_AFTER_S

    url, session, token = server
    robot = session.robots[0]
    with connect(url.replace("http", "ws") + f"/ws/robot/0?token={token}", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "claim"}))
        assert _reply(ws, "claim")["controller"] is True
        ws.send(json.dumps({"type": "mode", "mode": "teleop"}))
        _reply(ws, "mode")
        ws.send(json.dumps({"type": "move", "v": [0, 0, 0.1]}))  # one command, then nothing: released
        _reply(ws, "move")
        time.sleep(HOLD_AFTER_S + 0.3)
        held = np.asarray(robot.target).copy()
        time.sleep(0.5)
        assert np.allclose(robot.target, held), "the robot kept moving after the command stopped"
        time.sleep(HEARTBEAT_TIMEOUT_S + 0.5)  # the page went quiet: no heartbeat
        assert robot.describe()["mode"] == "paused" and robot.describe()["reason"] == "heartbeat lost"


def _half_open(url: str, n: int) -> list:
    import socket

    host, port = url.removeprefix("http://").split(":")
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # headers never finished
        socks.append(s)
    return socks


def _closed(sock, wait: float) -> bool:

    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_clients_that_never_finish_their_headers_are_dropped_and_connections_are_capped(server, monkeypatch):
    from datapipe.teleop.http_limits import GuardedHttpProtocol

    url, _, token = server
    monkeypatch.setattr(GuardedHttpProtocol, "header_timeout_s", 1.0)
    slow = _half_open(url, 100)
    try:
        assert all(_closed(s, 6.0) for s in slow)  # 100 of 100 gone after the header timeout
    finally:
        for s in slow:
            s.close()
    monkeypatch.setattr(GuardedHttpProtocol, "header_timeout_s", 30.0)
    monkeypatch.setattr(GuardedHttpProtocol, "max_connections", 20)
    held = _half_open(url, 30)
    try:
        refused = sum(_closed(s, 0.5) for s in held)
        assert refused >= 10  # beyond the cap, closed at once
    finally:
        for s in held:
            s.close()
    monkeypatch.setattr(GuardedHttpProtocol, "max_connections", 256)
    assert _status(f"{url}/api/robots?token={token}") == 200  # and the server serves on

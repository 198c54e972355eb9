"""End-to-end teleoperation in real headless Chromium (Debian's, driven by Playwright): the page
with its token, a keyboard grasp in pick_place, takeover from a policy with rewind-and-correct,
the help queue across robots, and webcam hand teleoperation from a fake camera file."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from datapipe.formats.shards.dataset import ShardDataset
from datapipe.generators.tasks.base import grasp_yaw
from datapipe.teleop.loopback import chromium, chromium_path, running_server
from datapipe.teleop.robot import MAX_JOINT_STEP, RobotSettings
from datapipe.teleop.sentinel import Alert
from datapipe.teleop.server import ServerSettings, _view_axes
from tests.teleop.harness import video_to_y4m

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="Chromium is not installed (make test installs it)")
DOCS = Path(__file__).resolve().parents[2] / "docs"


def _open(browser, url: str, token: str, robot: int = 0):
    page = browser.new_page(viewport={"width": 1280, "height": 760})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/?token={token}&robot={robot}")
    page.wait_for_function("window.teleopStats && window.teleopStats.frames >= 3", timeout=30_000)
    page.wait_for_function("document.getElementById('mode').textContent.length > 1", timeout=10_000)
    return page, errors


def _tap(page, key: str, seconds: float) -> None:
    page.keyboard.down(key)
    time.sleep(seconds)
    page.keyboard.up(key)
    time.sleep(0.15)


def _drive_to(page, robot, goal: np.ndarray, tol: float = 0.006, budget_s: float = 40.0) -> None:
    """Press keys (closed loop on the robot's reported state) until the end effector is at ``goal``."""
    right, away = _view_axes(robot)
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline:
        ee = np.asarray(robot.describe()["ee"])
        err = goal - ee
        if np.linalg.norm(err) < tol:
            return
        along = {"KeyD": err @ right, "KeyW": err @ away, "KeyR": err[2]}
        key, amount = max(along.items(), key=lambda kv: abs(kv[1]))
        key = key if amount > 0 else {"KeyD": "KeyA", "KeyW": "KeyS", "KeyR": "KeyF"}[key]
        _tap(page, key, float(np.clip(abs(amount) / 0.15, 0.03, 0.4)))
    raise AssertionError(f"could not reach {goal} (at {robot.describe()['ee']})")


def _align_yaw(page, robot, want: float) -> None:
    for _ in range(60):
        diff = (want - robot.ee_yaw() + np.pi / 4) % (np.pi / 2) - np.pi / 4
        if abs(diff) < np.radians(4):
            return
        _tap(page, "KeyQ" if diff > 0 else "KeyE", float(np.clip(abs(diff) / 0.8, 0.03, 0.3)))
    raise AssertionError("could not turn the gripper to the block")


def test_keyboard_drives_a_grasp_in_pick_place(tmp_path):
    settings = ServerSettings(robots=1, robot=RobotSettings(task="pick_place"), out=str(tmp_path / "ds"))
    with running_server(settings) as (url, session), chromium() as browser:
        page, errors = _open(browser, url, settings.token)
        robot = session.robots[0]
        assert robot.describe()["mode"] == "teleop" and robot.describe()["controller"] is not None
        block = np.asarray(robot.describe()["objects"][0])
        top = robot.table_top
        _, quat = robot.sim.body_pose("block")
        _align_yaw(page, robot, grasp_yaw(quat))
        _drive_to(page, robot, np.array([block[0], block[1], top + 0.10]))
        _drive_to(page, robot, np.array([block[0], block[1], top + 0.028]), tol=0.005)
        page.keyboard.press("Space")  # close
        time.sleep(1.2)
        assert robot.gripper == 0.0
        _tap(page, "KeyR", 1.0)
        time.sleep(0.5)
        lifted = robot.describe()["objects"][0][2] - block[2]
        assert lifted > 0.04, f"the block rose {lifted:.3f} m"
        shot = tmp_path / "teleop.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
        if os.environ.get("DATAPIPE_UPDATE_DOCS"):  # the README's picture: DATAPIPE_UPDATE_DOCS=1 pytest ...
            DOCS.mkdir(exist_ok=True)
            shutil.copy(shot, DOCS / "teleop.png")
        page.click("#success")
        page.wait_for_function("window.teleopStats.oks.some(m => m.for === 'finish')", timeout=30_000)
        assert not errors
    (ep,) = ShardDataset(str(tmp_path / "ds")).iter_episodes()
    assert ep.success and ep.source.kind == "teleop" and ep.meta["teleop"]["labelled_success"] is True
    assert (ep.steps["control_mode"] == 1).all() and not ep.steps["is_intervention"].any()
    assert not ep.steps["has_policy_action"].any() and not ep.steps["policy_action"].any()
    assert (ep.steps["action"][:, -1] == 0).any() and ep.cameras["front"].width == 320


def test_take_over_from_a_policy_rewind_correct_and_label(tmp_path):
    settings = ServerSettings(robots=1, robot=RobotSettings(policy="expert"), out=str(tmp_path / "ds"))
    with running_server(settings) as (url, session), chromium() as browser:
        page, errors = _open(browser, url, settings.token)
        robot = session.robots[0]
        assert robot.describe()["mode"] == "autonomous"
        page.wait_for_function("Number(document.getElementById('step').textContent) >= 40", timeout=30_000)
        page.click("button[data-mode=teleop]")
        page.wait_for_function("document.getElementById('mode').textContent.startsWith('teleop')", timeout=10_000)
        took_over = robot.describe()["step"]
        _tap(page, "KeyW", 0.4)
        page.eval_on_selector("#rewind", "e => { e.value = 20; e.dispatchEvent(new Event('input', {bubbles: true})); }")
        page.click("#rewind-go")
        page.wait_for_function("window.teleopStats.oks.some(m => m.for === 'rewind')", timeout=30_000)
        assert robot.describe()["mode"] == "correcting" and 20 <= robot.describe()["step"] < took_over
        _tap(page, "KeyD", 0.5)
        _tap(page, "KeyF", 0.3)
        page.fill("#instruction", "pick up the block, corrected")
        page.click("#success")
        page.wait_for_function("window.teleopStats.oks.some(m => m.for === 'finish')", timeout=30_000)
        assert not errors
    episodes = {ep.meta["teleop"]["branch_of"] is None: ep for ep in ShardDataset(str(tmp_path / "ds")).iter_episodes()}
    main, branch = episodes[True], episodes[False]
    # the abandoned future: policy steps, then the human's, labelled failed, never dropped
    assert not branch.success and branch.meta["teleop"]["abandoned_at_step"] == 20
    modes = branch.steps["control_mode"]
    first_human = int(np.argmax(modes != 0))
    assert 40 <= first_human <= took_over and (modes[:first_human] == 0).all() and (modes[first_human:] == 1).all()
    assert len(modes) - first_human >= 5  # the operator drove before rewinding
    assert (branch.steps["is_intervention"] == (modes != 0)).all()
    # the kept episode: the policy's 20 steps, then the correction
    assert main.success and main.task == ("pick up the block, corrected",)
    m = main.steps["control_mode"]
    assert (m[:20] == 0).all() and (m[20:] == 2).all() and len(m) > 25
    assert main.steps["is_intervention"][20:].all() and not main.steps["is_intervention"][:20].any()
    assert main.steps["has_policy_action"][:20].all() and not main.steps["has_policy_action"][20:].any()
    assert np.allclose(main.steps["policy_action"][:20, :-1], branch.steps["policy_action"][:20, :-1])
    for ep in (main, branch):  # handovers blend: joint targets never jump
        assert np.abs(np.diff(ep.steps["action"][:, :-1], axis=0)).max() <= MAX_JOINT_STEP + 1e-6
    assert np.allclose(main.steps["sim.qpos"][:20], branch.steps["sim.qpos"][:20])
    assert main.meta["teleop"]["branches"] == [branch.episode_id]


class AskForHelpAt:
    """A custom failure predictor: fires once at ``step`` (only on robot 1)."""

    count = 0

    def __init__(self) -> None:
        AskForHelpAt.count += 1
        self.robot, self.fired = AskForHelpAt.count - 1, False

    def reset(self) -> None:
        pass

    def check(self, view):
        if self.robot == 1 and not self.fired and view.time_s >= 1.0:
            self.fired = True
            return Alert("test: stuck", 2)
        return None


def test_one_operator_many_robots_the_queue_hands_over_the_robot_that_needs_help(tmp_path):
    AskForHelpAt.count = 0
    settings = ServerSettings(robots=2, robot=RobotSettings(policy="expert"), predictors=lambda: [AskForHelpAt()])
    with running_server(settings) as (url, session), chromium() as browser:
        page, errors = _open(browser, url, settings.token)
        page.wait_for_function("document.getElementById('queue').textContent.includes('test: stuck')", timeout=30_000)
        waiting = session.robots[1].describe()
        assert waiting["mode"] == "paused" and waiting["reason"] == "test: stuck"
        held_at = waiting["step"]
        time.sleep(0.5)
        assert session.robots[1].describe()["step"] == held_at  # a waiting robot holds
        assert session.robots[0].describe()["mode"] == "autonomous"
        page.click("#next")
        page.wait_for_function("document.getElementById('robot-index').textContent === '1'", timeout=10_000)
        page.wait_for_function("document.getElementById('mode').textContent.startsWith('teleop')", timeout=10_000)
        assert session.robots[1].controller is not None and session.queue.entries() == []
        # pointer drag on the view: the end effector follows in the table plane, to the right
        robot = session.robots[1]
        before = np.asarray(robot.describe()["target"])
        box = page.locator("#view").bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(box["x"] + box["width"] / 2 + 12 * k, box["y"] + box["height"] / 2)
            time.sleep(0.03)
        page.mouse.up()
        time.sleep(1.0)
        moved = np.asarray(robot.describe()["target"]) - before
        right, _ = _view_axes(robot)
        assert moved @ right > 0.03 and abs(moved[2]) < 0.01, moved
        assert not errors


HAND_VIDEO = Path(__file__).resolve().parents[2].parent / "shared" / "media" / "hand_webcam_720p.mp4"


@pytest.mark.skipif(not HAND_VIDEO.is_file(), reason=f"{HAND_VIDEO} is absent (the shared media folder)")
def test_webcam_hand_drives_the_robot_through_the_hand_tracker_and_arm_retargeting(tmp_path):
    camera = video_to_y4m(HAND_VIDEO, tmp_path / "hand.y4m")
    settings = ServerSettings(robots=1, robot=RobotSettings())
    with running_server(settings) as (url, session), chromium(camera) as browser:
        page, errors = _open(browser, url, settings.token)
        robot = session.robots[0]
        start = np.asarray(robot.describe()["target"])
        page.click("#webcam")
        page.wait_for_function("window.teleopStats.hand && window.teleopStats.hand.hands >= 5", timeout=60_000)
        hand = page.evaluate("window.teleopStats.hand")
        cam = session.webcams[0]
        assert cam.hands >= 5 and cam.hands / cam.frames > 0.5, (cam.hands, cam.frames)
        time.sleep(1.0)
        moved = np.linalg.norm(np.asarray(robot.describe()["target"]) - start)
        assert moved > 0.02, f"the end-effector target moved {moved:.3f} m"
        low, high = robot.workspace.low, robot.workspace.high
        assert hand["found"] is False or all(lo <= v <= hi for v, lo, hi in zip(hand["target"], low, high))
        assert not errors

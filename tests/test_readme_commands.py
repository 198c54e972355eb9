"""Every README command that claims to run, run as shown at small sizes.

The README's ```bash blocks are commands a user types; they run here, in order, in one fresh
working directory outside the repository (as a newcomer's shell would, with the repository's
``workflows/`` beside it), with the sizes in :data:`SMALL` turned down. ```sh blocks are the
ones this cannot run: ``make demo`` / ``make test`` (the demo runs reduced in tests/test_demo.py,
and ``make test`` is this suite) and the multi-machine cluster recipe. ```text blocks are output
and synopses.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

LEROBOT_BIN = REPO / ".venv-lerobot" / "bin"
SMALL = (  # (pattern, replacement): sizes a test can afford; nothing else of a command changes
    (r"sim\.episodes=\d+", "sim.episodes=3"),
    (r"'sim\.image_size=\[224, 224\]'", "'sim.image_size=[64, 64]'"),
    (r"--episodes 50\b", "--episodes 2"),
    (r"--steps=\d+", "--steps=2 --batch_size=2 --num_workers=0"),
    (r"^(datapipe train .*)$", r"\1 --steps 20"),
)


def readme_blocks(language: str) -> list[list[str]]:
    """The commands of each ```<language> block of the README (continuation lines joined)."""
    text = (REPO / "README.md").read_text()
    blocks = re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)
    return [[c for c in (line.strip() for line in b.replace("\\\n", " ").splitlines()) if c] for b in blocks]


def small(command: str) -> str:
    for pattern, replacement in SMALL:
        command = re.sub(pattern, replacement, command)
    return command


def _env() -> dict[str, str]:
    bin_dirs = [str(Path(sys.executable).parent)] + ([str(LEROBOT_BIN)] if LEROBOT_BIN.is_dir() else [])
    return {**os.environ, "PATH": os.pathsep.join([*bin_dirs, os.environ.get("PATH", "")])}


def _serve_then_stop(argv: list[str], cwd: Path) -> None:
    """A server command: it prints its URL, the URL answers, Ctrl-C stops it cleanly."""
    proc = subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, seen, deadline = None, [], time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, f"{argv} exited:\n{''.join(seen)}"
            seen.append(line)
            url = line.strip() if line.strip().startswith("http://") else None
        assert url, "".join(seen)
        while True:
            try:
                assert urllib.request.urlopen(url, timeout=5).status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, f"{url} never answered"
                time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) in (0, 130)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_every_readme_code_block_says_what_it_is():
    unmarked, inside = [], False
    for n, line in enumerate((REPO / "README.md").read_text().splitlines(), 1):
        if line.startswith("```"):
            if not inside and line == "```":
                unmarked.append(n)
            inside = not inside
    assert not unmarked, f"README.md: code blocks without a language (bash, sh, text...) at lines {unmarked}"
    commands = [c for b in readme_blocks("bash") for c in b]
    assert any(c.startswith("lerobot-train ") for c in commands) and any(
        c.startswith("datapipe train ") for c in commands
    )


@pytest.mark.slow
def test_every_readme_bash_block_runs_at_small_sizes(tmp_path):
    if not (LEROBOT_BIN / "lerobot-train").exists():
        pytest.skip("the LeRobot venv is missing: run `make lerobot-venv` (make test builds it)")
    (tmp_path / "workflows").symlink_to(REPO / "workflows")
    ran = []
    for block in readme_blocks("bash"):
        for command in block:
            argv = shlex.split(small(command))
            if argv[:2] == ["datapipe", "teleop"]:
                _serve_then_stop(argv, tmp_path)
            else:
                proc = subprocess.run(argv, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
                assert proc.returncode == 0, f"{small(command)}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
                assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
            ran.append(argv[0])
    assert {"datapipe", "lerobot-train"} <= set(ran) and len(ran) >= 5
    assert (tmp_path / "out" / "act_sim_pick_place").is_dir()

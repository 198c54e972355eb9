"""Every command answers bad input with one ``error:`` line and exit 2, never a traceback: every
typed or fixed-choice flag of every command with a bad value, and the values only a command can
check (an unknown camera or step array, a policy server that is not there)."""

from __future__ import annotations

import argparse
import socket

import pytest

from datapipe.cli import _parser
from datapipe.cli import main as cli_main
from tests.helpers import synthetic_shards


def _commands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _checked_flags() -> list[tuple[str, str, str]]:
    """(command, flag, bad value) for every flag argparse checks: a type or a set of choices."""
    cases = []
    for name, parser in sorted(_commands().items()):
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0:
                continue
            if action.choices is not None:
                cases.append((name, action.option_strings[-1], "nosuchchoice"))
            elif action.type is not None:
                cases.append((name, action.option_strings[-1], "10x"))
    return cases


def _required_positionals(parser: argparse.ArgumentParser) -> list[str]:
    needed = []
    for action in parser._actions:
        if not action.option_strings and action.nargs is None and not isinstance(action, argparse._SubParsersAction):
            needed.append("somewhere")
        elif action.required and action.option_strings:
            needed += [action.option_strings[-1], "somewhere"]
    return needed


@pytest.mark.parametrize("command,flag,value", _checked_flags())
def test_a_bad_flag_value_is_one_error_line_and_exit_2(command, flag, value, capsys):
    argv = [command, *_required_positionals(_commands()[command]), flag, value]
    with pytest.raises(SystemExit) as exit_:
        cli_main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert "Traceback" not in err and f"argument {flag}" in err and err.strip().splitlines()[-1].count("error:") == 1


def test_the_flag_sweep_covers_the_commands_users_reported():
    flags = {(c, f) for c, f, _ in _checked_flags()}
    assert {("evaluate", "--task"), ("teleop", "--task"), ("teleop", "--size"), ("train", "--steps")} <= flags


def test_every_help_shows_the_defaults():
    for name, parser in _commands().items():
        text = parser.format_help()
        for action in parser._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                assert action.help, f"datapipe {name} {action.option_strings[-1]} has no help"
            if action.option_strings and action.help and action.default not in (None, False, "", [], ()):
                if action.default is not argparse.SUPPRESS:
                    assert "default" in (parser._get_formatter()._get_help_string(action)).lower(), (name, action.dest)
        assert "usage:" in text


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return synthetic_shards(tmp_path_factory.mktemp("flags"), {"episodes": 3, "min_length": 4, "max_length": 6})[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "DS", "--out", "CKPT", "--camera", "nosuchcam"], "--camera 'nosuchcam'"),
        (["train", "DS", "--out", "CKPT", "--steps", "0"], "--steps: must be >= 1, got 0"),
        (["train", "DS", "--out", "CKPT", "--state-keys", "nosuch.key"], "--state-keys nosuch.key"),
        (["evaluate", "--policy", "ws://127.0.0.1:PORT", "--episodes", "1", "--local"], "cannot connect"),
    ],
)
def test_values_only_the_command_can_check_are_one_error_line(argv, message, tiny_dataset, tmp_path, capsys):
    argv = [
        a.replace("DS", str(tiny_dataset)).replace("CKPT", str(tmp_path / "ckpt")).replace("PORT", str(_free_port()))
        for a in argv
    ]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1

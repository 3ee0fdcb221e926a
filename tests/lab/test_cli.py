"""The command line as a user meets it: `python -m lab ...` in a subprocess."""
from __future__ import annotations

import argparse
import errno
import os
import re
import socket
import subprocess
import sys

import pytest

from lab.cli import build_parser
from lab.config import IO_MODELS

from .conftest import ROOT

RUN_TIMEOUT = 20


def lab(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options a user is shown (not -h, not those hidden with help=SUPPRESS)."""
    return [a for a in parser._actions
            if a.option_strings and not isinstance(a, argparse._HelpAction)
            and a.help != argparse.SUPPRESS]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_lab_help_lists_every_command():
    done = lab("--help")
    assert done.returncode == 0, done.stderr
    commands = _subparsers(build_parser())
    assert "serve" in commands
    for name in commands:
        assert re.search(rf"^\s+{name}\s", done.stdout, re.M), f"{name} missing:\n{done.stdout}"
    for action in _options(build_parser()):
        assert action.option_strings[0] in done.stdout
        assert "(default: " in (action.help or ""), f"{action.option_strings} has no default"


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every command and sub-command: (path, parser), depth first."""
    for name, sub in _subparsers(parser).items():
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


@pytest.mark.parametrize("path", [" ".join(path) for path, _ in _commands(build_parser())])
def test_command_help_lists_every_option_with_its_default(path):
    # The text `lab PATH --help` prints, rendered in-process: a subprocess per command
    # would cost a second each. (`lab --help` and `lab serve --help` run for real above
    # and below.)
    parser = dict((" ".join(p), sub) for p, sub in _commands(build_parser()))[path]
    text = _flat(parser.format_help())
    for action in _options(parser):
        for flag in action.option_strings:
            assert flag in text, f"{flag} missing from `lab {path} --help`"
        if action.nargs == 0 or action.required:
            continue  # a flag is off unless given; a required option has no default
        # An option that takes a value says what happens when it is not given: its
        # value, or, where the parser's default is None (computed, or "not set"), the
        # help's words for it.
        expected = "(default: " if action.default is None else f"(default: {action.default})"
        assert expected in _flat(action.help % vars(action) if action.help else ""), (
            f"`lab {path}` {action.option_strings[0]}: no '{expected}' in its help")


def test_serve_help_names_the_six_models_and_every_default():
    text = _flat(lab("serve", "--help").stdout)
    for io in IO_MODELS:
        assert io in text
    for action in _options(_subparsers(build_parser())["serve"]):  # every one, no exemption
        assert f"(default: {action.default})" in text, action.option_strings


@pytest.mark.parametrize("io", IO_MODELS)
def test_port_in_use_is_a_one_line_error_and_exit_1(io):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = lab("serve", "--io", io, "--app", "hello", "--port", str(port))
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0], lines[0]


def test_lab_alone_is_lab_serve_on_its_defaults():
    # `python -m lab` = `lab serve` on port 8080. Hold 8080 (or find it held) so the
    # server cannot start: its error names the default address, and that is the proof.
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            holder.bind(("127.0.0.1", 8080))
            holder.listen()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        done = lab()
    finally:
        holder.close()
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "cannot listen on 127.0.0.1:8080" in done.stderr, done.stderr


@pytest.mark.parametrize("args, complaint", [
    (["--port", "70000"], "--port"),
    (["--port", "-1"], "--port"),
    (["--workers", "0"], "--workers"),
    (["--io", "fibers"], "--io"),
    (["--header-timeout", "soon"], "--header-timeout"),
])
def test_bad_option_values_are_refused_before_serving(args, complaint):
    done = lab("serve", "--port", "0", *args)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == "", "it started serving"
    assert "Traceback" not in done.stderr
    assert complaint in done.stderr.splitlines()[-1], done.stderr

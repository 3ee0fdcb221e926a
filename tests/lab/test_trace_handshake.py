"""`lab trace handshake`: scapy's own three-way handshake, in a private namespace."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.trace import handshake
from tests.skips import require

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab.trace", "trace", "handshake", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def host_nft_tables() -> str:
    if shutil.which("nft") is None:
        return ""
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=10).stdout


@pytest.mark.root
def test_handshake_crafted_by_scapy_gets_the_labs_answer():
    require(os.geteuid() == 0, "creating the network namespace and crafting packets needs root")
    require(shutil.which("nft") is not None or shutil.which("iptables") is not None,
            "dropping the kernel's RST needs nft or iptables (docs/ci-packages.txt)")
    before = host_nft_tables()
    result = run_cli()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for step in ("sent SYN", "received SYN-ACK", "sent ACK", "sent FIN"):
        assert step in result.stdout
    assert "answer: 'HTTP/1.1 200 OK'" in result.stdout
    assert "[SA ]" in result.stdout and "status line" in result.stdout
    # What the capture reassembles is what scapy's client sent and received.
    port = int(re.search(r"-> server [\d.]+:(\d+)", result.stdout)[1])
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % port
    up, down = map(int, re.search(r"\((\d+) bytes >, (\d+) bytes <\)", result.stdout).groups())
    answered = int(re.search(r"answer: 'HTTP/1.1 200 OK', (\d+) bytes", result.stdout)[1])
    assert (up, down) == (len(request), answered)
    # The RST-dropping rule lived and died in the namespace: the host has no trace of it.
    assert host_nft_tables() == before and "labtrace" not in host_nft_tables()


@pytest.mark.root
def test_handshake_json_lists_syn_synack_and_fins():
    require(os.geteuid() == 0, "creating the network namespace and crafting packets needs root")
    result = run_cli("--json")
    assert result.returncode == 0, result.stderr
    flags = [s["flags"] for s in json.loads(result.stdout)["segments"]]
    assert flags[:3] == ["S", "SA", "A"] and "R" not in "".join(flags)
    assert sum("F" in f for f in flags) == 2
    (conn,) = json.loads(result.stdout)["connections"]
    assert conn["fin"] == {">": True, "<": True} and conn["gaps"] == {">": [], "<": []}
    names = {(e["direction"], e["name"]) for e in conn["elements"]}
    assert {(">", "request line"), (">", "end of headers"), ("<", "status line"), ("<", "body")} <= names


def test_without_any_namespace_it_says_what_it_needs(monkeypatch, capsys):
    def refuse(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "unshare: unshare failed: Operation not permitted\n")

    monkeypatch.setattr(handshake.subprocess, "run", refuse)
    monkeypatch.setattr(handshake.shutil, "which", lambda name: "/usr/bin/" + name)
    assert handshake.run_handshake(argparse.Namespace(io="epoll", json=False)) == 1
    err = capsys.readouterr().err
    assert "needs a private network namespace" in err and "unprivileged_userns_clone" in err


def test_without_unshare_it_says_so(monkeypatch, capsys):
    monkeypatch.setattr(handshake.shutil, "which", lambda name: None)
    assert handshake.run_handshake(argparse.Namespace(io="epoll", json=False)) == 1
    assert "unshare(1)" in capsys.readouterr().err

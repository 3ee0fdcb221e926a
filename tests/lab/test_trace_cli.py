"""The command line: `python -m lab.trace trace ...` and `... inspect ...` end to end."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.trace.capture import can_capture
from lab.trace.scenarios import SCENARIOS
from tests.skips import require

REPO = Path(__file__).resolve().parents[2]


def lab_trace(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab.trace", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_list_names_every_scenario_with_one_line_each():
    result = lab_trace("trace", "--list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [*SCENARIOS, "handshake"]
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_unknown_scenario_is_a_usage_error_without_a_traceback():
    result = lab_trace("trace", "no-such-scenario")
    assert result.returncode == 2 and "--list" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.root
def test_trace_json_and_pcap_round_trip_through_inspect(tmp_path):
    require(can_capture(), "packet capture needs root or CAP_NET_RAW")
    pcap = tmp_path / "chunked.pcap"
    traced = lab_trace("trace", "chunked", "--json", "--out", str(pcap))
    assert traced.returncode == 0, traced.stderr
    doc = json.loads(traced.stdout)
    assert doc["mode"] == "capture"
    records = doc["segments"]
    assert [r["flags"] for r in records[:3]] == ["S", "SA", "A"]
    for record in records:
        assert set(record) >= {"index", "time", "direction", "flags", "seq", "ack", "len", "range", "elements"}
        for element in record["elements"]:
            assert element["start"] < element["end"] and element["name"]
    named = {e["name"] for r in records for e in r["elements"]}
    assert {"chunk-size line", "chunk data", "last chunk", "trailer field line"} <= named
    for direction in (">", "<"):  # a chunked upload and a chunked response
        assert {"chunk-size line", "chunk data", "last chunk"} <= {
            e["name"] for r in records if r["direction"] == direction for e in r["elements"]}
    # inspect on the written pcap gives the same connections and elements.
    port = int(doc["connections"][0]["server"].rsplit(":", 1)[1])
    inspected = lab_trace("inspect", str(pcap), "--port", str(port), "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["connections"] == doc["connections"]


@pytest.mark.root
def test_a_scenario_the_lab_answers_otherwise_fails_cleanly_saying_what_it_got():
    """A scenario that cannot run is a failure (exit 1) with what the lab answered."""
    require(can_capture(), "packet capture needs root or CAP_NET_RAW")
    # The `hello` app answers every request with 200 text/plain, never an event stream.
    wrong = "{python} -m lab serve --app hello --io {io} --host 127.0.0.1 --port 0"
    result = subprocess.run([sys.executable, "-m", "lab.trace", "trace", "sse"], cwd=REPO,
                            capture_output=True, text=True, timeout=90,
                            env={**os.environ, "LAB_TRACE_SERVER": wrong})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the scenario failed" in result.stderr and "text/plain" in result.stderr

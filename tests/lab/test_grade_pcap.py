"""`lab grade --pcap DIR`: each visible socket check's traffic as a pcap plus the
tracer's annotated timeline; without capture privileges a note, never a crash."""
from __future__ import annotations

import os

import pytest

from lab.grade import pcap as grade_pcap
from lab.grade.feedback import render_text
from lab.grade.runner import grade
from tests.skips import require

from .grade_helpers import EX01, leftovers, reference_submission

CHECK = "lab-serves-with-your-parser"


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


def _can_capture() -> bool:
    try:
        from lab.trace.capture import can_capture
    except ImportError:
        return False
    return can_capture()


def test_socket_check_traffic_is_kept_as_pcap_and_annotated_timeline(tmp_path):
    require(os.geteuid() == 0 and _can_capture(), "packet capture needs root (CAP_NET_RAW) and scapy")
    out = tmp_path / "pcap"
    res = grade(EX01, reference_submission(tmp_path / "ref"), seed=3, only=[CHECK], pcap=out)
    assert {c["name"]: c["status"] for c in res["checks"] if c["name"] == CHECK} == {CHECK: "passed"}
    assert res["notes"] == []
    txt = (out / f"{CHECK}.txt").read_text()
    assert "request line" in txt and "GET /a?b=c HTTP/1.1\\r\\n" in txt and "status line" in txt
    assert "[S  ]" in txt  # TCP segments, handshake included: a real capture, not a tap

    from lab.trace.cli import inspect_file

    trace = inspect_file(str(out / f"{CHECK}.pcap"))
    assert len(trace.connections) == 2  # one per case


def test_hidden_checks_are_never_captured(tmp_path):
    res = grade(EX01, reference_submission(tmp_path / "ref"), seed=3, only=["robustness"], pcap=tmp_path / "p")
    assert not (tmp_path / "p").exists() or not any((tmp_path / "p").iterdir())
    assert [c["status"] for c in res["checks"] if c["name"] == "robustness"] == ["passed"]


def test_no_capture_privileges_is_one_note_and_grading_goes_on(tmp_path, monkeypatch):
    from lab.trace import capture

    def refuse(self):
        raise capture.CaptureUnavailable("cannot open a packet socket: Operation not permitted\nhelp...")

    monkeypatch.setattr(capture.LoopbackSniffer, "start", refuse)
    res = grade(EX01, reference_submission(tmp_path / "ref"), seed=3,
                only=[CHECK, "lab-rejects-with-your-parser"], pcap=tmp_path / "p")
    assert [c["status"] for c in res["checks"] if c["name"].startswith("lab-")] == ["passed", "passed"]
    assert res["notes"] == [grade_pcap.UNAVAILABLE_NOTE.format(
        why="cannot open a packet socket: Operation not permitted")]
    assert render_text(res).count("note: --pcap: packet capture is not possible here") == 1


def test_scenario_check_traffic_is_kept_and_hidden_scenarios_are_not(tmp_path):
    """ScenarioCheck (exercises 07-12 run the whole lab) captures like ServerCheck: the
    visible scenario's connections are in its pcap; the hidden one leaves no file."""
    require(os.geteuid() == 0 and _can_capture(), "packet capture needs root (CAP_NET_RAW) and scapy")
    from lab.grade.manifest import find_exercise

    from .grade_helpers import reference_of

    ex07 = find_exercise("07")
    visible, hidden = "post-answers-202-at-once", "jobs-run-side-by-side"
    out = tmp_path / "pcap"
    res = grade(ex07, reference_of(ex07, tmp_path / "ref"), seed=3, only=[visible, hidden], pcap=out)
    assert {c["name"]: c["status"] for c in res["checks"] if c["name"] in (visible, hidden)} == {
        visible: "passed", hidden: "passed"}
    assert res["notes"] == []
    assert sorted(p.name for p in out.iterdir()) == [f"{visible}.pcap", f"{visible}.txt"]
    txt = (out / f"{visible}.txt").read_text()
    assert "POST /jobs HTTP/1.1\\r\\n" in txt and "[S  ]" in txt

    from lab.trace.cli import inspect_file

    assert len(inspect_file(str(out / f"{visible}.pcap")).connections) >= 1

"""Exercise 12 (reading a pcap) through the whole grader: the reference (the lab's own
lab/trace/questions.py) scores 100% repeatedly, the untouched starter 0, and the mutation matrix: each
known-bad variant of the reference fails exactly the checks declared for it, and every
check has a mutant that kills it."""
from __future__ import annotations

import importlib.util

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .exercise_helpers import failing_checks, mutant, reference, starter
from .grade_helpers import leftovers

EX = find_exercise("12-reading-a-pcap")
A = "answers.py"

CAPTURE_ORDER = (
    "    seen: set = set()\n"
    "    for p in packets:\n"
    "        if p.payload and p.seq not in seen:\n"
    "            seen.add(p.seq)\n"
    "            for byte in p.payload:\n"
    "                placed[len(placed)] = (byte, p.time)\n"
)

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "rtt-to-the-ack": (
        [(A, 'synack = next(p for p in packets if p.flags == "SA" and p.ack == (syn.seq + 1) % SEQ_MOD and p.src == syn.dst)',
          'synack = next(p for p in packets if p.flags == "A" and p.src == syn.src)')],
        {"handshake-rtt", "more-captures"},
    ),
    "retransmitted-bytes-counted": (
        [(A, "return sum(len(conn.upstream.data) for conn in _connections(pcap_path))",
          "return sum(len(p.payload) for conn in _connections(pcap_path) for p in conn.packets if p.src == conn.client)")],
        {"bytes-from-client", "more-captures"},
    ),
    "streams-in-capture-order": (
        [(A, "    for p in packets:\n        start = ((p.seq + 1 if \"S\" in p.flags else p.seq) - base) % SEQ_MOD\n"
             "        for i, byte in enumerate(p.payload):\n            placed.setdefault(start + i, (byte, p.time))\n",
          CAPTURE_ORDER)],
        {"first-response-status", "more-captures"},
    ),
    "duplicates-kept": (
        [(A, "placed.setdefault(start + i, (byte, p.time))", "placed.setdefault(len(placed), (byte, p.time))")],
        {"count-requests", "first-response-status", "bytes-from-client", "websocket-opcodes", "more-captures"},
    ),
    "mask-key-not-skipped": (
        [(A, "at += 4 if second & 0x80 else 0", "at += 0")],
        {"websocket-opcodes", "more-captures"},
    ),
}
FAST = ("retransmitted-bytes-counted",)  # each grading builds captures and imports scapy: ~25 s


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
@pytest.mark.skipif(importlib.util.find_spec("scapy") is None, reason="scapy is not installed")
def test_reference_scores_full_marks(tmp_path, seed):
    res = grade(EX, reference(EX, tmp_path / "ref"), seed=seed)
    failed = {c["name"]: (c["status"], c["message"], c["cases"][:1]) for c in res["checks"] if c["status"] != "passed"}
    assert failed == {}
    assert res["score"] == res["max_score"] == EX.max_score


def test_untouched_starter_scores_zero(tmp_path):
    res = grade(EX, starter(EX, tmp_path / "starter"), seed=1)
    assert res["score"] == 0
    assert {c["status"] for c in res["checks"] if c["stage"] == "packets"} == {"failed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "packets")


def test_starter_keeps_the_reference_names():
    import ast

    from .exercise_helpers import module_path

    def names(path):
        # Module-level and class-level names; private helpers are the student's to choose.
        tree = ast.parse(path.read_text())
        out = set()
        for node in tree.body:
            body = node.body if isinstance(node, ast.ClassDef) else []
            for n in (node, *body):
                if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_"):
                    out.add(n.name)
        return out

    for file, module in EX.modules():
        assert names(module_path(module)) <= names(EX.directory / "starter" / file), file


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in MUTANTS])
def test_mutant_fails_exactly_its_declared_checks(tmp_path, name):
    edits, declared = MUTANTS[name]
    bad = failing_checks(EX, tmp_path / name, edits)
    assert set(bad.values()) <= {"failed", "timeout"}, bad
    assert set(bad) == declared


def test_every_check_has_a_killing_mutant():
    killed = set().union(*(declared for _, declared in MUTANTS.values()))
    assert {c.name for c in EX.all_checks} - killed == set()


def test_every_mutant_edit_applies(tmp_path):
    for name, (edits, _) in MUTANTS.items():
        mutant(EX, tmp_path / name, edits)


def test_reference_agrees_with_the_tracer_on_many_seeds(tmp_path):
    """The reference (its own reassembly), the truth (the tracer's reassembly) and the
    tracer's annotator are three readings: on 20 seeded captures they agree."""
    pytest.importorskip("scapy")
    from lab.grade.checks.pcap import build_scenario, truth, write_pcap
    from lab.trace import questions as q

    for seed in range(20):
        path = tmp_path / f"{seed}.pcap"
        write_pcap(build_scenario(seed), path)
        t, p = truth(path), str(path)
        assert t == {"handshake_rtt": q.handshake_rtt(p), "count_requests": q.count_requests(p),
                     "first_response_status": q.first_response_status(p), "bytes_from_client": q.bytes_from_client(p),
                     "websocket_opcodes": {"client": q.websocket_opcodes(p, "client"),
                                           "server": q.websocket_opcodes(p, "server")}}, seed
        assert (t["count_requests"], t["websocket_opcodes"]) == _annotated(path), seed


def _annotated(path):
    """Requests and WebSocket opcodes as the tracer's annotator names them."""
    from scapy.utils import rdpcap

    from lab.trace.annotate import annotate_connection
    from lab.trace.reassembly import segments_from_packets, split_connections

    conns = split_connections(segments_from_packets(rdpcap(str(path))), server_port=8080)
    requests, opcodes = 0, {"client": [], "server": []}
    for conn in conns:
        for el in annotate_connection(conn):
            if el.name == "request line" and el.direction == ">":
                requests += 1
            elif el.name == "WebSocket frame":
                side = "client" if el.direction == ">" else "server"
                opcodes[side].append(int(el.detail.split("opcode=")[1].split(" ")[0], 16))
    return requests, opcodes


def test_capture_is_the_same_for_the_same_seed(tmp_path):
    pytest.importorskip("scapy")
    from lab.grade.checks.pcap import build_scenario, write_pcap

    write_pcap(build_scenario(5), tmp_path / "a.pcap")
    write_pcap(build_scenario(5), tmp_path / "b.pcap")
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()

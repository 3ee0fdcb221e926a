"""The annotator names protocol elements with byte ranges, from streams or pcap files."""
from __future__ import annotations

import json

from scapy.utils import wrpcap

from lab.trace import cli
from lab.trace.annotate import annotate_streams, sse_blocks, websocket_frames
from lab.trace.reassembly import Stream
from lab.trace.timeline import escape, render_json, render_text
from tests.lab.trace_packets import conversation, mangle, split

GET = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED_UPLOAD = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n")


def names(elements, direction=None):
    return [e.name for e in elements if direction is None or e.direction == direction]


def stream(data: bytes, closed: bool = True) -> Stream:
    return Stream(data=data, fin_offset=len(data) if closed else None)


def spans(elements, data_by_direction):
    return {(e.direction, e.name): data_by_direction[e.direction][e.start:e.end] for e in elements}


def test_a_request_and_its_response_are_split_into_lines_and_body():
    elements = annotate_streams(stream(GET), stream(OK))
    assert names(elements, ">") == ["request line", "header field line", "end of headers"]
    assert names(elements, "<") == ["status line", "header field line", "end of headers", "body"]
    by_name = spans(elements, {">": GET, "<": OK})
    assert by_name[(">", "request line")] == b"GET /a HTTP/1.1\r\n"
    assert by_name[(">", "end of headers")] == b"\r\n"
    assert by_name[("<", "body")] == b"hello"


def test_chunked_body_elements_cover_the_chunk_framing__rfc9112_7_1():
    elements = annotate_streams(stream(CHUNKED_UPLOAD), stream(OK))
    up = [e for e in elements if e.direction == ">"]
    assert names(up)[-9:] == ["chunk-size line", "chunk data", "chunk end", "chunk-size line", "chunk data",
                              "chunk end", "last chunk", "trailer field line", "end of trailers"]
    pieces = [CHUNKED_UPLOAD[e.start:e.end] for e in up[-9:]]
    assert pieces == [b"5\r\n", b"hello", b"\r\n", b"6;ext=1\r\n", b" world", b"\r\n", b"0\r\n",
                      b"X-Sum: 1\r\n", b"\r\n"]
    # The elements tile the stream: no byte is unnamed, none named twice.
    assert [(a.end == b.start) for a, b in zip(up, up[1:])] == [True] * (len(up) - 1)
    assert up[0].start == 0 and up[-1].end == len(CHUNKED_UPLOAD)


def test_pipelined_requests_are_each_named():
    data = GET + GET.replace(b"/a", b"/b")
    elements = annotate_streams(stream(data), stream(OK + OK))
    assert names(elements, ">").count("request line") == 2
    assert names(elements, "<").count("status line") == 2


def test_a_malformed_request_is_named_with_the_status_the_lab_answers():
    bad = b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"
    elements = annotate_streams(stream(bad), stream(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
    (malformed,) = [e for e in elements if e.name == "malformed"]
    assert malformed.detail.startswith("400 ") and malformed.direction == ">"


def test_head_response_has_no_body():
    head = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    elements = annotate_streams(stream(head), stream(response))
    assert "body" not in names(elements, "<")


def test_event_stream_body_names_sse_events_and_comments_in_chunk_data():
    events = [b": heartbeat\n\n", b"id: 1\ndata: first\n\n", b"id: 2\ndata: sec", b"ond\n\n"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n") + body
    request = b"GET /topics/t/events HTTP/1.1\r\nHost: x\r\n\r\n"
    elements = annotate_streams(stream(request), stream(response, closed=False))
    sse = [e for e in elements if e.name.startswith("SSE")]
    assert [e.name for e in sse] == ["SSE comment", "SSE event", "SSE event"]
    assert response[sse[1].start:sse[1].end] == b"id: 1\ndata: first\n\n"
    # The third event spans two chunks: its range runs from its first byte to its last.
    assert response[sse[2].start:sse[2].end].startswith(b"id: 2\ndata: sec\r\n")
    assert sse[2].detail == "event=message id='2' data='second'"  # read from the de-chunked body


def test_sse_blocks_accept_cr_lf_and_crlf_line_ends():
    blocks = list(sse_blocks(b"data: a\r\n\r\ndata: b\r\rdata: c\n\n:c\n\n"))
    assert [b[0] for b in blocks] == ["SSE event", "SSE event", "SSE event", "SSE comment"]


def test_websocket_frames_after_101_show_fin_opcode_mask_and_length__rfc6455_5_2():
    request = (b"GET /topics/t/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    key = b"\x01\x02\x03\x04"
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(b"hi"))
    client_frames = b"\x81\x82" + key + masked + b"\x88\x82" + key + bytes(
        b ^ key[i % 4] for i, b in enumerate(b"\x03\xe8"))
    response = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    server_frames = b"\x81\x05hello" + b"\x82\x7e\x00\x80" + bytes(128) + b"\x88\x02\x03\xe8"
    elements = annotate_streams(stream(request + client_frames), stream(response + server_frames))
    up = [e for e in elements if e.direction == ">" and e.name == "WebSocket frame"]
    down = [e for e in elements if e.direction == "<" and e.name == "WebSocket frame"]
    assert len(up) == 2 and len(down) == 3
    assert "FIN=1 opcode=0x1 (text) MASK=1 len=2 text=hi" == up[0].detail
    assert down[1].detail.startswith("FIN=1 opcode=0x2 (binary) MASK=0 len=128")
    assert "code=1000" in up[1].detail and "code=1000" in down[2].detail
    assert down[1].end - down[1].start == 4 + 128


def test_a_frame_cut_by_the_end_of_the_capture_is_named_incomplete():
    elements = websocket_frames(b"\x81\x05hel", 0, "<")
    assert [e.name for e in elements] == ["WebSocket frame (incomplete)"]


def test_escape_shows_crlf_and_binary_as_hex():
    assert escape(b"GET /\r\n") == "GET /\\r\\n"
    assert escape(b"\x81\x85\x00\xff\x10") == "hex:81 85 00 ff 10"


def _conversation_packets():
    turns = [(">", part) for part in split(CHUNKED_UPLOAD, [30, 40, 9, 7])]
    turns += [("<", part) for part in split(OK, [10, 20])]
    turns += [(">", GET), ("<", OK)]
    return conversation(turns)


def _annotation(path, port=None):
    doc = json.loads(render_json(cli.inspect_file(str(path), port)))
    return [(c["client"], c["server"], c["bytes"], c["elements"]) for c in doc["connections"]]


def test_inspect_of_a_shuffled_duplicated_retransmitted_capture_matches_the_clean_one(tmp_path):
    clean = _conversation_packets()
    wrpcap(str(tmp_path / "clean.pcap"), clean)
    wrpcap(str(tmp_path / "mangled.pcap"), mangle(clean))
    expected = _annotation(tmp_path / "clean.pcap", 8080)
    assert expected and expected[0][3]
    assert _annotation(tmp_path / "mangled.pcap", 8080) == expected
    assert _annotation(tmp_path / "mangled.pcap") == expected  # roles from the SYN alone


def test_inspect_text_marks_retransmissions_and_each_segment_elements(tmp_path):
    clean = _conversation_packets()
    wrpcap(str(tmp_path / "mangled.pcap"), mangle(clean))
    text = render_text(cli.inspect_file(str(tmp_path / "mangled.pcap")))
    assert "no new bytes: a retransmission or duplicate" in text
    assert "chunk-size line" in text and "last chunk" in text and "[S  ]" in text


def test_inspect_cli_reports_a_missing_or_bad_file_without_a_traceback(tmp_path, capsys):
    parser = __import__("argparse").ArgumentParser()
    cli.configure_inspect(parser)
    assert cli.run_inspect(parser.parse_args([str(tmp_path / "nope.pcap")])) == 2
    (tmp_path / "junk.pcap").write_bytes(b"not a capture at all")
    assert cli.run_inspect(parser.parse_args([str(tmp_path / "junk.pcap")])) == 1
    err = capsys.readouterr().err
    assert "no such file" in err and "cannot read" in err and "Traceback" not in err


def test_a_masked_frame_from_the_server_is_judged_by_the_frames_core__rfc6455_5_1():
    masked_from_server = b"\x81\x82\x01\x02\x03\x04" + bytes(b ^ k for b, k in zip(b"hi", b"\x01\x02"))
    elements = websocket_frames(masked_from_server, 0, "<")
    assert elements[0].name == "WebSocket frame" and "MASK=1" in elements[0].detail
    verdicts = [e for e in elements if e.name == "malformed"]
    assert verdicts and verdicts[0].detail.startswith("close code 1002")


def test_sse_details_come_from_the_sse_core():
    body = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: 7\nevent: tick\ndata: a\ndata: b\n\n"
    elements = annotate_streams(stream(b"GET /e HTTP/1.1\r\nHost: x\r\n\r\n"), stream(body))
    (event,) = [e for e in elements if e.name == "SSE event"]
    assert event.detail == "event=tick id='7' data='a\\nb'"

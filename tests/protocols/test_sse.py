"""protocols.sse against WHATWG HTML "Server-sent events" (§9.2.5-§9.2.7).

Every stream is fed whole, one byte at a time and in random splits: the parser must
give the same events whichever way the bytes arrive.
"""

from __future__ import annotations

import random
import time

import pytest

from protocols.sse import (
    Comment,
    Event,
    EventStreamParser,
    encode_comment,
    encode_event,
    encode_retry,
)

SPLITS = ["whole", "bytewise", "random1", "random2", "random3"]


def chunks(data: bytes, how: str) -> list[bytes]:
    if how == "whole":
        return [data]
    if how == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(how)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 7)
        out.append(data[i : i + n])
        i += n
    return out


def parse(data: bytes, how: str = "whole", **kwargs: object) -> list[Event | Comment]:
    parser = EventStreamParser(**kwargs)  # type: ignore[arg-type]
    events: list[Event | Comment] = []
    for chunk in chunks(data, how):
        events += parser.receive_data(chunk)
    events += parser.receive_data(b"")
    return events


def parse_all_ways(data: bytes, **kwargs: object) -> list[Event | Comment]:
    results = [parse(data, how, **kwargs) for how in SPLITS]
    for how, result in zip(SPLITS, results):
        assert result == results[0], f"{how} split differs from whole"
    return results[0]


def msg(data: str, last_event_id: str = "", type: str = "message", retry: int | None = None) -> Event:
    return Event(type=type, data=data, last_event_id=last_event_id, retry=retry)


# --- The spec's own examples (§9.2.6) ---------------------------------------------


def test_spec_example_multiline_data_joined_with_lf__whatwg_9_2_6() -> None:
    stream = b"data: YHOO\ndata: +2\ndata: 10\n\n"
    assert parse_all_ways(stream) == [msg("YHOO\n+2\n10")]


def test_spec_example_ids_and_comment__whatwg_9_2_6() -> None:
    stream = (
        b": test stream\n\n"
        b"data: first event\nid: 1\n\n"
        b"data:second event\nid\n\n"
        b"data:  third event\n\n"
    )
    assert parse_all_ways(stream) == [
        msg("first event", "1"),
        # "id" with no colon sets the last event ID to the empty string.
        msg("second event", ""),
        # Only one leading space is removed.
        msg(" third event", ""),
    ]


def test_spec_example_empty_data_and_unterminated_final_block__whatwg_9_2_6() -> None:
    stream = b"data\n\ndata\ndata\n\ndata:"
    # "The first block fires events with the data set to the empty string, as would
    # the last block if it was followed by a blank line. The middle block fires an
    # event with the data set to a single newline character. The last block is
    # discarded because it is not followed by a blank line."
    assert parse_all_ways(stream) == [msg(""), msg("\n")]


def test_spec_example_space_after_colon_is_optional__whatwg_9_2_6() -> None:
    stream = b"data:test\n\ndata: test\n\n"
    assert parse_all_ways(stream) == [msg("test"), msg("test")]


# --- Byte order mark and line ends (§9.2.5) --------------------------------------


def test_one_leading_bom_is_stripped__whatwg_9_2_5() -> None:
    assert parse_all_ways(b"\xef\xbb\xbfdata: x\n\n") == [msg("x")]


def test_only_one_bom_is_stripped_the_second_spoils_the_field_name__whatwg_9_2_5() -> None:
    # The second BOM becomes part of the field name "\ufeffdata": an unknown field.
    assert parse_all_ways(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n") == [msg("y")]


def test_bom_after_stream_start_is_data__whatwg_9_2_5() -> None:
    assert parse_all_ways(b"data: \xef\xbb\xbfx\n\n") == [msg("\ufeffx")]


def test_stream_shorter_than_a_bom_is_fine__whatwg_9_2_5() -> None:
    assert parse_all_ways(b"\n") == []
    assert parse_all_ways(b"\xef\xbb") == []


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_cr_lf_and_crlf_all_end_lines__whatwg_9_2_5(eol: bytes) -> None:
    stream = b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert parse_all_ways(stream) == [msg("a\nb"), msg("c")]


def test_mixed_line_ends_in_one_stream__whatwg_9_2_5() -> None:
    stream = b"data: a\r\ndata: b\rdata: c\n\r\n"
    assert parse_all_ways(stream) == [msg("a\nb\nc")]


def test_crlf_split_across_chunks_is_one_line_end__whatwg_9_2_5() -> None:
    parser = EventStreamParser()
    # Were CR and LF two line ends, the LF would be a blank line dispatching "a".
    assert parser.receive_data(b"data: a\r") == []
    assert parser.receive_data(b"\ndata: b\n") == []
    assert parser.receive_data(b"\n") == [msg("a\nb")]


def test_crlf_then_cr_is_two_line_ends_not_one__whatwg_9_2_5() -> None:
    # sseclient-py merges these two events (FACTS.md); the spec does not.
    assert parse_all_ways(b"data: a\r\n\rdata: b\r\n\r\n") == [msg("a"), msg("b")]


def test_cr_at_end_of_stream_is_a_complete_blank_line__whatwg_9_2_5() -> None:
    assert parse_all_ways(b"data: a\r\r") == [msg("a")]


def test_event_is_dispatched_as_soon_as_the_cr_of_the_blank_line_arrives__whatwg_9_2_5() -> None:
    parser = EventStreamParser()
    assert parser.receive_data(b"data: a\r\r") == [msg("a")]
    assert parser.receive_data(b"\ndata: b\n\n") == [msg("b")]


# --- Fields and dispatch (§9.2.6) -------------------------------------------------


def test_event_type_defaults_to_message_and_resets_after_dispatch__whatwg_9_2_6() -> None:
    stream = b"event: add\ndata: 1\n\ndata: 2\n\n"
    assert parse_all_ways(stream) == [msg("1", type="add"), msg("2")]


def test_event_type_without_data_is_not_dispatched_and_is_reset__whatwg_9_2_6() -> None:
    stream = b"event: lonely\n\ndata: x\n\n"
    assert parse_all_ways(stream) == [msg("x")]


def test_last_event_id_persists_across_events__whatwg_9_2_6() -> None:
    stream = b"id: 7\ndata: a\n\ndata: b\n\nid: 8\ndata: c\n\n"
    assert parse_all_ways(stream) == [msg("a", "7"), msg("b", "7"), msg("c", "8")]


def test_id_only_block_updates_last_event_id_without_an_event__whatwg_9_2_6() -> None:
    parser = EventStreamParser()
    assert parser.receive_data(b"id: 41\n\n") == []
    assert parser.last_event_id == "41"
    assert parser.receive_data(b"data: x\n\n") == [msg("x", "41")]


def test_id_is_only_committed_by_the_blank_line__whatwg_9_2_6() -> None:
    parser = EventStreamParser(last_event_id="3")
    parser.receive_data(b"id: 4\ndata: x\n")
    assert parser.last_event_id == "3"
    parser.receive_data(b"\n")
    assert parser.last_event_id == "4"


def test_last_event_id_given_at_reconnect_is_reported_until_a_new_id__whatwg_9_2_6() -> None:
    parser = EventStreamParser(last_event_id="3")
    assert parser.receive_data(b"data: x\n\nid: 4\ndata: y\n\n") == [msg("x", "3"), msg("y", "4")]


def test_id_containing_nul_is_ignored__whatwg_9_2_6() -> None:
    stream = b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"
    assert parse_all_ways(stream) == [msg("a", "1"), msg("b", "1")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"1500", 1500), (b"0", 0), (b"12x", None), (b"-1", None), (b" 5", None),
     (b"", None), (b"1.5", None), ("\u0663".encode(), None)],
)
def test_retry_only_if_all_ascii_digits__whatwg_9_2_6(value: bytes, expected: int | None) -> None:
    # "retry: 5" strips one space; "retry:  5" keeps one, so " 5" is not digits.
    events = parse_all_ways(b"retry: " + value + b"\ndata: x\n\n")
    assert events == [msg("x", retry=expected)]


def test_retry_persists_and_is_visible_without_an_event__whatwg_9_2_6() -> None:
    parser = EventStreamParser()
    assert parser.receive_data(b"retry: 250\n") == []
    assert parser.retry == 250
    assert parser.receive_data(b"data: a\n\ndata: b\n\n") == [msg("a", retry=250), msg("b", retry=250)]


def test_unknown_fields_and_comments_are_ignored__whatwg_9_2_6() -> None:
    stream = b"foo: bar\n:comment\nData: no\ndata: yes\nbaz\n\n"
    assert parse_all_ways(stream) == [msg("yes")]


def test_field_name_without_colon_has_empty_value__whatwg_9_2_6() -> None:
    assert parse_all_ways(b"data\ndata\n\n") == [msg("\n")]


def test_only_the_first_colon_splits_field_and_value__whatwg_9_2_6() -> None:
    assert parse_all_ways(b"data: a: b:c\n\n") == [msg("a: b:c")]


def test_unterminated_final_event_is_dropped_at_eof__whatwg_9_2_6() -> None:
    assert parse_all_ways(b"data: a\n\ndata: b\n") == [msg("a")]
    assert parse_all_ways(b"data: a\n\ndata: b") == [msg("a")]


def test_comments_are_yielded_when_asked__whatwg_9_2_6() -> None:
    stream = b": heartbeat\n:tight\ndata: x\n\n:\n"
    assert parse_all_ways(stream, comments=True) == [
        Comment("heartbeat"), Comment("tight"), msg("x"), Comment(""),
    ]


def test_receive_after_eof_is_an_error() -> None:
    parser = EventStreamParser()
    parser.receive_data(b"")
    with pytest.raises(RuntimeError):
        parser.receive_data(b"data: x\n\n")


# --- UTF-8 decoding (§9.2.5) -------------------------------------------------------


def test_multibyte_characters_split_across_chunks__whatwg_9_2_5() -> None:
    text = "h\u00e9llo \u20ac \U0001f600"
    assert parse_all_ways(b"data: " + text.encode() + b"\n\n") == [msg(text)]


@pytest.mark.parametrize(
    "bad", [b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80", b"a\x80b\xc3("]
)
def test_invalid_utf8_is_replaced_as_whole_stream_decoding_would__whatwg_9_2_5(bad: bytes) -> None:
    expected = bad.decode("utf-8", errors="replace")
    assert "\ufffd" in expected
    assert parse_all_ways(b"data: " + bad + b"\n\n") == [msg(expected)]


# --- Buffering -----------------------------------------------------------------------


def test_long_line_in_many_chunks_is_not_rescanned() -> None:
    # 4 MiB in 1 KiB chunks: rescanning the buffer per chunk would read ~8 GiB.
    parser = EventStreamParser()
    chunk = b"x" * 1024
    start = time.perf_counter()
    parser.receive_data(b"data: ")
    for _ in range(4096):
        assert parser.receive_data(chunk) == []
        assert time.perf_counter() - start < 2.0, "buffer is rescanned per chunk"
    events = parser.receive_data(b"\n\n")
    assert len(events) == 1 and len(events[0].data) == 4096 * 1024


# --- Encoder -----------------------------------------------------------------------


def test_encode_event_exact_bytes() -> None:
    assert encode_event("hi", event="greet", id="1") == b"event: greet\nid: 1\ndata: hi\n\n"
    assert encode_event("") == b"data:\n\n"
    assert encode_event(id="5") == b"id: 5\n\n"


@pytest.mark.parametrize(
    ("payload", "received"),
    [
        ("a\nb", "a\nb"),
        ("a\r\nb", "a\nb"),  # the spec turns CRLF into LF
        ("a\rb", "a\nb"),  # and CR into LF
        ("a\r\n\r\nb\n", "a\n\nb\n"),
        ("\n", "\n"),
        ("", ""),
        (" leading space", " leading space"),
        (":not a comment", ":not a comment"),
        ("data: nested", "data: nested"),
        ("\u00e9\u20ac\U0001f600", "\u00e9\u20ac\U0001f600"),
    ],
)
def test_encoded_data_round_trips_with_cr_and_crlf_as_lf__whatwg_9_2_6(payload: str, received: str) -> None:
    assert parse_all_ways(encode_event(payload)) == [msg(received)]


def test_random_payloads_round_trip__whatwg_9_2_6() -> None:
    rng = random.Random(6455)
    alphabet = ["a", " ", ":", "\r", "\n", "\r\n", "\u00e9", "\0", "\ufeff"]
    stream, expected = b"", []
    for i in range(200):
        payload = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        event_type = rng.choice([None, "", "update", " spaced"])
        stream += encode_event(payload, event=event_type, id=str(i))
        received = payload.replace("\r\n", "\n").replace("\r", "\n")
        expected.append(msg(received, str(i), type=event_type or "message"))
    assert parse(stream) == expected
    assert parse(stream, "random9") == expected


def test_event_type_and_id_keep_leading_space__whatwg_9_2_6() -> None:
    assert parse_all_ways(encode_event("x", event=" e", id=" 1")) == [msg("x", " 1", type=" e")]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\r\nb", "\n"])
def test_event_type_with_line_end_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        encode_event("x", event=bad)


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "1\x002"])
def test_id_with_line_end_or_nul_is_refused__whatwg_9_2_6(bad: str) -> None:
    with pytest.raises(ValueError):
        encode_event("x", id=bad)


def test_comment_is_ignored_by_a_parser_and_named_on_request__whatwg_9_2_7() -> None:
    stream = encode_comment("heartbeat") + encode_event("x") + encode_comment("two\nlines")
    assert stream.startswith(b": heartbeat\n")
    assert parse_all_ways(stream) == [msg("x")]
    assert parse_all_ways(stream, comments=True) == [
        Comment("heartbeat"), msg("x"), Comment("two"), Comment("lines"),
    ]


def test_encode_retry_sets_reconnection_time__whatwg_9_2_6() -> None:
    assert encode_retry(3000) == b"retry: 3000\n"
    parser = EventStreamParser()
    parser.receive_data(encode_retry(3000) + encode_event("x", retry=10))
    assert parser.retry == 10
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError):
            encode_retry(bad)  # type: ignore[arg-type]


# --- A real client: httpx-sse, where it follows the spec ---------------------------


def test_httpx_sse_reads_what_we_encode() -> None:
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    sent = [("one", "add", "1"), ("two\nlines", None, "2"), ("  spaced", "x", "3")]
    stream = encode_comment("hb") + b"".join(
        encode_event(data, event=event, id=id) for data, event, id in sent
    )
    lines, decoder, got = SSELineDecoder(), SSEDecoder(), []
    for chunk in chunks(stream, "random4"):
        for line in lines.decode(chunk.decode()):
            event = decoder.decode(line)
            if event is not None:
                got.append((event.data, event.event, event.id))
    assert got == [(d, e or "message", i) for d, e, i in sent]
    assert [(e.data, e.type, e.last_event_id) for e in parse(stream)] == got  # type: ignore[union-attr]


def test_we_agree_with_httpx_sse_on_line_ends_and_colons() -> None:
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    stream = "data:a\r\ndata: b\rdata:  c\n\nid: 9\nevent: e\ndata: x:y\r\n\r\n"
    lines, decoder, theirs = SSELineDecoder(), SSEDecoder(), []
    for line in lines.decode(stream):
        event = decoder.decode(line)
        if event is not None:
            theirs.append((event.event, event.data, event.id))
    ours = [(e.type, e.data, e.last_event_id) for e in parse(stream.encode())]  # type: ignore[union-attr]
    assert ours == theirs == [("message", "a\nb\n c", ""), ("e", "x:y", "9")]

"""Client-side measurements of the polling patterns, for `lab bench` and the tests.

    long_poll_wakeup("127.0.0.1", port, clients=500)
        -> WakeupResult: N long polls held on one topic, one publish: how long until the
           first and the last of them is answered (the long-poll benchmark scenario)
    poll_delivery("127.0.0.1", port, mode="short" | "long", messages=20)
        -> DeliveryResult: one reader following a topic while a publisher posts: requests,
           bytes on the wire and delivery latency per message (the "patterns" legs)

Both talk raw HTTP/1.1 over plain sockets with the lab's own writer and response parser,
so what they count is exactly what crossed the wire (request and response bytes, heads
included). Neither blocks for ever: every wait has a timeout, so a model that cannot
hold N polls (`blocking`, `pool` with fewer workers) gives a partial result, not a hang.
Latency is the reader's `time.time()` on arrival minus the message's `time` (the
server's clock at publish): client and server share the machine's clock.
"""
from __future__ import annotations

import json
import selectors
import socket
import statistics
import threading
import time
from dataclasses import dataclass, field

from protocols.http1 import NEED_DATA, Data, EndOfMessage, ResponseParser, format_request
from protocols.http1 import Response as ResponseHead

__all__ = ["long_poll_wakeup", "poll_delivery", "WakeupResult", "DeliveryResult", "Client"]


class Client:
    """One keep-alive HTTP/1.1 connection that counts the bytes it moves."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = host
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = ResponseParser()
        self.requests = 0
        self.bytes_sent = 0
        self.bytes_received = 0

    def send(self, method: str, target: str, body: bytes | None = None) -> None:
        data = format_request(method.encode(), target.encode(),
                              [(b"Host", self.host.encode())], body)
        self.sock.sendall(data)
        self.parser.expect(method.encode())
        self.requests += 1
        self.bytes_sent += len(data)

    def receive(self) -> tuple[int, bytes]:
        status, body = 0, bytearray()
        while True:
            event = self.parser.next_event()
            if event is NEED_DATA:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("the server closed the connection")
                self.bytes_received += len(data)
                self.parser.receive_data(data)
            elif type(event) is ResponseHead:
                status = event.status
            elif type(event) is Data:
                body += event.data
            elif type(event) is EndOfMessage and status >= 200:
                return status, bytes(body)

    def request(self, method: str, target: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.send(method, target, body)
        return self.receive()

    def close(self) -> None:
        self.sock.close()


# -- N waiting clients woken by one publish ---------------------------------------------
@dataclass
class WakeupResult:
    clients: int  # polls opened
    held: int  # polls the server held at once (its waiter count) before the publish; -1: unknown
    answered: int  # polls answered with the message within the timeout
    first: float | None  # seconds from the publish to the first answer
    last: float | None  # ... to the last answer: the scenario's headline number
    median: float | None


def long_poll_wakeup(host: str, port: int, clients: int, *, topic: str | None = None,
                     wait: float = 30.0, timeout: float = 30.0,
                     settle: float = 5.0) -> WakeupResult:
    """Hold `clients` long polls on a fresh topic, publish once, time the answers.

    Waits up to `settle` s for the server to report every poll held (its stats request
    may itself wait on `blocking` or a full `pool`: held is then -1, unknown), then
    publishes and reads answers for up to `timeout` s. Raise the soft open-files limit
    first for large N (each poll is one socket)."""
    topic = topic or f"wakeup-{time.monotonic_ns()}"
    # Connection: close, so that on `pool` an answered poll frees its worker at once.
    request = format_request(b"GET", f"/topics/{topic}?after=0&wait={wait:g}".encode(),
                             [(b"Host", host.encode()), (b"Connection", b"close")])
    socks: list[socket.socket] = []
    try:
        for _ in range(clients):
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            socks.append(sock)
        held = _wait_for_waiters(host, port, topic, clients, settle)
        publisher = Client(host, port, timeout)
        try:
            publisher.send("POST", f"/topics/{topic}", b"wake up")
            published = time.monotonic()  # the request is on its way
            arrivals = _read_answers(socks, published + timeout)
            try:
                publisher.receive()
            except (OSError, ConnectionError):
                pass  # still queued (blocking, a full pool): the answers tell the story
        finally:
            publisher.close()
    finally:
        for sock in socks:
            sock.close()
    delays = sorted(at - published for at in arrivals)
    return WakeupResult(clients, held, len(delays), delays[0] if delays else None,
                        delays[-1] if delays else None,
                        statistics.median(delays) if delays else None)


def _wait_for_waiters(host: str, port: int, topic: str, wanted: int, settle: float) -> int:
    give_up = time.monotonic() + settle
    held = -1
    try:
        control = Client(host, port, settle)
    except OSError:
        return held
    try:
        while time.monotonic() < give_up:
            status, body = control.request("GET", f"/topics/{topic}/stats")
            held = json.loads(body)["waiters"] if status == 200 else -1
            if held >= wanted:
                break
            time.sleep(0.01)
    except (OSError, ConnectionError):
        pass  # blocking/pool: the stats request itself could not get in
    finally:
        control.close()
    return held


def _read_answers(socks: list[socket.socket], give_up: float) -> list[float]:
    """Arrival times (monotonic) of answers that carry a message."""
    selector = selectors.DefaultSelector()
    parsers: dict[socket.socket, tuple[ResponseParser, bytearray]] = {}
    for sock in socks:
        sock.setblocking(False)
        parser = ResponseParser()
        parser.expect(b"GET")
        parsers[sock] = (parser, bytearray())
        selector.register(sock, selectors.EVENT_READ)
    arrivals: list[float] = []
    pending = len(socks)
    try:
        while pending and time.monotonic() < give_up:
            for key, _ in selector.select(max(0.0, give_up - time.monotonic())):
                sock = key.fileobj
                parser, body = parsers[sock]
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                    pending -= 1
                    continue
                parser.receive_data(data)
                while (event := parser.next_event()) is not NEED_DATA:
                    if type(event) is Data:
                        body += event.data
                    elif type(event) is EndOfMessage:
                        if json.loads(body).get("messages"):
                            arrivals.append(time.monotonic())
                        selector.unregister(sock)
                        pending -= 1
                        break
    finally:
        selector.close()
    return arrivals


# -- one reader following a topic: short polling against long polling -------------------
@dataclass
class DeliveryResult:
    mode: str  # "short" or "long"
    messages: int  # published
    delivered: int  # received by the reader
    requests: int  # the reader's requests
    bytes_sent: int  # the reader's request bytes
    bytes_received: int  # the reader's response bytes (heads included)
    latencies: list[float] = field(default_factory=list)  # seconds, per message

    @property
    def median_latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None


def poll_delivery(host: str, port: int, *, mode: str = "long", messages: int = 20,
                  interval: float = 0.05, poll_every: float = 0.1, wait: float = 10.0,
                  topic: str | None = None, timeout: float = 30.0) -> DeliveryResult:
    """A publisher posts `messages` messages, one per `interval` s; a reader follows.

    mode "short": the reader asks `GET ?after=N` every `poll_every` s.
    mode "long":  the reader asks `GET ?after=N&wait=W` again as soon as it is answered.
    """
    if mode not in ("short", "long"):
        raise ValueError("mode is 'short' or 'long'")
    topic = topic or f"delivery-{mode}-{time.monotonic_ns()}"
    reader = Client(host, port, timeout)

    def publish() -> None:
        publisher = Client(host, port, timeout)
        try:
            for n in range(messages):
                publisher.request("POST", f"/topics/{topic}", b"message %d" % n)
                time.sleep(interval)
        finally:
            publisher.close()

    result = DeliveryResult(mode, messages, 0, 0, 0, 0)
    after = 0
    give_up = time.monotonic() + timeout
    thread = threading.Thread(target=publish, name="probe-publisher", daemon=True)
    thread.start()
    try:
        while result.delivered < messages and time.monotonic() < give_up:
            query = f"after={after}" + (f"&wait={wait:g}" if mode == "long" else "")
            status, body = reader.request("GET", f"/topics/{topic}?{query}")
            arrived = time.time()
            batch = json.loads(body)
            for message in batch["messages"]:
                result.latencies.append(max(0.0, arrived - message["time"]))
            result.delivered += len(batch["messages"])
            after = batch["next"]
            if mode == "short" and result.delivered < messages:
                time.sleep(poll_every)
    finally:
        thread.join(timeout)
        result.requests = reader.requests
        result.bytes_sent = reader.bytes_sent
        result.bytes_received = reader.bytes_received
        reader.close()
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m lab.patterns.probe wakeup|short|long --port P [...]`: one JSON line."""
    import argparse
    from dataclasses import asdict

    parser = argparse.ArgumentParser(prog="python -m lab.patterns.probe",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("wakeup", "short", "long"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=100, help="wakeup: waiting clients")
    parser.add_argument("--messages", type=int, default=20, help="short/long: messages")
    parser.add_argument("--wait", type=float, default=30.0, help="long poll wait, seconds")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.what == "wakeup":
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        result = asdict(long_poll_wakeup(args.host, args.port, args.clients, wait=args.wait,
                                         timeout=args.timeout))
    else:
        delivery = poll_delivery(args.host, args.port, mode=args.what, messages=args.messages,
                                 wait=args.wait, timeout=args.timeout)
        result = asdict(delivery) | {"median_latency": delivery.median_latency}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

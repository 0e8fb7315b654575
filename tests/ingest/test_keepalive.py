"""The local endpoint on a keep-alive connection: each response leaves the server in one write, and several
requests share one connection, each answered correctly.

Why one write: a response written as status line + headers, then body, on a socket with Nagle's algorithm
waits for the client's delayed ACK before the body goes out (~40 ms per request on a reused connection). No
test here measures a time: the in-process tests count the server's writes on the accepted socket instead (a
socket subclass records each send/sendall; the Lambda handler is a stub returning a body derived from the
request, as only the HTTP layer is under test). The last test drives the real `python -m
clickstream_local.ingest_server` process with one keep-alive connection.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from clickstream_local.ingest_server import CorsConfig, IngestHTTPServer, make_request_handler

from tests.ingest.helpers import valid_event


class CountingSocket(socket.socket):
    """The accepted connection, recording the bytes of every send/sendall the server makes on it."""

    writes: list[bytes]

    # Recorded before the bytes go out, so the record is there by the time the client has read them.
    def send(self, data: Any, *args: Any) -> int:
        self.writes.append(bytes(data))
        sent = super().send(data, *args)
        self.writes[-1] = self.writes[-1][:sent]
        return sent

    def sendall(self, data: Any, *args: Any) -> None:
        self.writes.append(bytes(data))
        super().sendall(data, *args)


class CountingServer(IngestHTTPServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: list[CountingSocket] = []

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = self.socket.accept()
        counting = CountingSocket(conn.family, conn.type, conn.proto, fileno=conn.detach())
        counting.writes = []
        self.connections.append(counting)
        return counting, addr


def echo_handler(event: Mapping[str, Any], _context: Any) -> Mapping[str, Any]:
    body = json.loads(event.get("body") or "{}")
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"seq": body.get("seq"), "pad": "x" * int(body.get("pad", 0))})}


@pytest.fixture
def server() -> Iterator[CountingServer]:
    srv = CountingServer(("127.0.0.1", 0), make_request_handler(echo_handler, CorsConfig(), access_log=False))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


def test_each_keepalive_response_is_one_write_on_one_connection(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    n = 5
    for seq in range(n):
        conn.request("POST", "/clickstream", body=json.dumps({"seq": seq, "pad": 100 * seq}),
                     headers={"content-type": "application/json"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200
        assert resp.getheader("connection") is None  # kept alive
        assert body == {"seq": seq, "pad": "x" * (100 * seq)}
    conn.close()

    assert len(server.connections) == 1, "every request shared the one keep-alive connection"
    writes = server.connections[0].writes
    assert len(writes) == n, f"{n} responses took {len(writes)} writes: {[w[:40] for w in writes]}"
    for seq, data in enumerate(writes):
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert json.loads(body) == {"seq": seq, "pad": "x" * (100 * seq)}, "headers and body in the same write"


def test_accepted_sockets_have_nagle_off(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read() == b'{"status": "ok"}'
    assert server.connections[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    conn.close()


def test_expect_100_continue_is_answered_before_the_body(server):
    """The buffered response file must not hold back the interim 100 Continue (the client waits for it)."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=30) as sock:
        body = json.dumps({"seq": 7}).encode()
        sock.sendall(b"POST /clickstream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = sock.recv(4096)
            assert chunk, "connection closed before 100 Continue"
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(body)
        reader = sock.makefile("rb")
        rest = interim.partition(b"\r\n\r\n")[2]
        assert rest == b""
        resp = http.client.HTTPResponse(sock)
        resp.fp = reader
        resp.begin()
        assert resp.status == 200
        assert json.loads(resp.read())["seq"] == 7


def test_real_endpoint_answers_many_requests_on_one_connection(local_endpoint):
    conn = http.client.HTTPConnection("127.0.0.1", local_endpoint.port, timeout=30)
    first_sock = None
    for i in range(4):
        event = valid_event()
        conn.request("POST", "/clickstream", body=json.dumps({"events": [event]}),
                     headers={"content-type": "application/json"})
        resp = conn.getresponse()
        doc = json.loads(resp.read())
        assert resp.status == 200, doc
        assert doc["accepted"] == 1, doc
        first_sock = first_sock or conn.sock
        assert conn.sock is first_sock, f"request {i} needed a new connection"
        conn.request("GET", "/healthz")
        health = conn.getresponse()
        assert (health.status, json.loads(health.read())) == (200, {"status": "ok"})
        assert conn.sock is first_sock
    conn.close()


@pytest.mark.parametrize(("request_line", "status"), [
    (b"FOO /clickstream HTTP/1.1", b"501"),   # no do_FOO: http.server's send_error
    (b"POST /clickstream HTTP/9.9", b"Error code: 505"),  # refused while parsing (answered HTTP/0.9 style)
])
def test_http_server_errors_still_reach_the_client(server, request_line, status):
    """http.server answers these itself (send_error, outside _send); the buffered file must still be flushed."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=30) as sock:
        sock.sendall(request_line + b"\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert status in reply, reply[:300]

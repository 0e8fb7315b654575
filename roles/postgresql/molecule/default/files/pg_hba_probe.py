"""Send a PostgreSQL startup message from a chosen local source address and print the server's answer.

libpq cannot pick the source address of a connection, so this speaks just enough of the protocol to
see pg_hba.conf decide: prints `AUTH <code>` when the server asks for authentication, `ERROR <message>`
when it refuses. Usage: pg_hba_probe.py SOURCE_ADDR HOST PORT USER DATABASE
"""

from __future__ import annotations

import socket
import struct
import sys


def startup_message(user: str, database: str) -> bytes:
    body = struct.pack("!I", 196608)  # protocol 3.0
    for key, value in (("user", user), ("database", database)):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def read_answer(sock: socket.socket) -> str:
    kind = sock.recv(1)
    length = struct.unpack("!I", sock.recv(4))[0]
    payload = b""
    while len(payload) < length - 4:
        chunk = sock.recv(length - 4 - len(payload))
        if not chunk:
            break
        payload += chunk
    if kind == b"R":
        return f"AUTH {struct.unpack('!I', payload[:4])[0]}"
    if kind == b"E":
        fields = dict((f[:1].decode(), f[1:].decode()) for f in payload.split(b"\0") if f)
        return f"ERROR {fields.get('M', '')}"
    return f"OTHER {kind!r}"


def main(source: str, host: str, port: str, user: str, database: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect((host, int(port)))
        sock.sendall(startup_message(user, database))
        print(read_answer(sock))


if __name__ == "__main__":
    main(*sys.argv[1:6])

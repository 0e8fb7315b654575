#!/usr/bin/env python3
"""The HTTP floor of the ingest bench: a minimal keep-alive HTTP/1.1 server answering every request with a fixed
`200 {}`, on asyncio streams. It shares no code with the local endpoint (no http.server, no handler): it reads the
request head and its Content-Length body, answers in one write (asyncio sets TCP_NODELAY on TCP transports), keeps
the connection unless the client sent `Connection: close`. The bench checks it answers a reused connection in
well under a millisecond before using it as a baseline.

    python bench/ingest/floor_server.py --port 8099
"""

from __future__ import annotations

import argparse
import asyncio

BODY = b"{}"
HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % len(BODY)
KEEP = HEAD + b"\r\n" + BODY
CLOSE = HEAD + b"connection: close\r\n\r\n" + BODY


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            if length:
                await reader.readexactly(length)
            writer.write(CLOSE if close else KEEP)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve_connection, "127.0.0.1", port, backlog=128)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    asyncio.run(main(ap.parse_args().port))

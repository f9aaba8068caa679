"""A minimal HTTP/1.1 keep-alive client for load generation.

httpx spends more CPU per request than the intake does to serve it; on a 2-core machine the
load generator would then measure itself. This client only writes a request and parses the
status line, headers and a Content-Length body.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class Connection:
    def __init__(self, host_port: tuple[str, int], host: str, source: str | None = None) -> None:
        self.host_port, self.host = host_port, host
        self.source = source  # the client address (another loopback address is another client)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> Connection:
        local = (self.source, 0) if self.source else None
        self.reader, self.writer = await asyncio.open_connection(*self.host_port, local_addr=local)
        return self

    async def post_json(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        payload = json.dumps(body, ensure_ascii=False).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        for _attempt in range(2):
            if self.writer is None:
                await self.connect()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(head + payload)
                status_line = await self.reader.readline()
            except OSError:
                status_line = b""
            if status_line:
                break
            self.close()  # the server closed an idle keep-alive connection: reconnect once
        else:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        data = await self.reader.readexactly(length) if length else b""
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class ConnectionPool:
    def __init__(self, base_url: str, size: int, source: str | None = None) -> None:
        parts = urlsplit(base_url)
        self.source = source
        self.host_port = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.host = parts.netloc
        self.size = size
        self.idle: asyncio.Queue[Connection] = asyncio.Queue()

    async def open(self) -> ConnectionPool:
        for _ in range(self.size):
            self.idle.put_nowait(await Connection(self.host_port, self.host, self.source).connect())
        return self

    async def post_json(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        connection = await self.idle.get()
        try:
            return await connection.post_json(path, body)
        finally:
            self.idle.put_nowait(connection)

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().close()

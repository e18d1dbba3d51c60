"""Sending object bodies: small ones in one write, large ones with sendfile, faulty on demand.

The fault middleware marks the request being handled with the body fault to apply (reset,
truncate, slow); `send_body` honours it, so the same code path serves clean and faulty responses.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO

from aiohttp import web

from aisloader.server.archive import Reader
from aisloader.server.faults import BODY_KINDS, Fault

__all__ = ["CURRENT_FAULT", "Body", "abort_connection", "read_whole", "send_body"]

# The body fault the middleware chose for the request being handled (set around the handler).
CURRENT_FAULT: ContextVar[tuple[int, Fault] | None] = ContextVar("emu_fault", default=None)
SMALL = 256 * 1024  # bodies up to this size are read and sent with the headers in one write
CHUNK = 1 << 20  # read size for streamed (non-sendfile) bodies
SLOW_CHUNK = 16 * 1024
PART_MAX = 1 << 20  # at most this much of the body is sent before a reset/truncate

Noter = Callable[[int, str], None]


@dataclass
class Body:
    """What to send: ``size`` bytes from ``reader`` (closed by `send_body`).

    ``file``/``offset`` are set when the bytes are a slice of a real file, so sendfile works.
    """

    reader: Reader
    size: int
    file: IO[bytes] | None = None
    offset: int = 0


def _read_exact(reader: Reader, n: int) -> bytes:
    parts, left = [], n
    while left > 0:
        chunk = reader.read(min(left, CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    data = b"".join(parts)
    if len(data) != n:
        raise ConnectionAbortedError(f"object changed while reading: {len(data)} of {n} bytes")
    return data


async def _read(body: Body, n: int) -> bytes:
    if n <= SMALL:
        return _read_exact(body.reader, n)
    return await asyncio.to_thread(_read_exact, body.reader, n)


async def read_whole(body: Body) -> bytes:
    """All ``body.size`` bytes of ``body`` (in a worker thread past `SMALL`); closes its reader.

    Raises:
        ConnectionAbortedError: when the file shrank while being read.
    """
    try:
        return await _read(body, body.size)
    finally:
        body.reader.close()


async def send_body(
    request: web.Request, status: int, headers: dict[str, str], body: Body, note: Noter
) -> web.StreamResponse:
    """Answer ``request`` with ``body``; apply the body fault the middleware marked, if any.

    Raises:
        ConnectionAbortedError: when the file shrank while being read (should not happen:
            objects are replaced by rename, never rewritten in place).
    """
    fault = CURRENT_FAULT.get()
    try:
        if fault is not None and fault[1].kind in BODY_KINDS:
            note(fault[0], fault[1].kind)
            CURRENT_FAULT.set(None)  # consumed: the middleware must not apply it again
            return await _send_faulty(request, status, headers, body, fault[1])
        if body.size <= SMALL:
            data = _read_exact(body.reader, body.size)
            return web.Response(status=status, headers=headers, body=data)
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = body.size
        try:
            await resp.prepare(request)
            await _stream(request, resp, body)
            await resp.write_eof()
        except ConnectionError:
            pass  # the client went away; aiohttp closes the connection
        return resp
    finally:
        body.reader.close()


async def _stream(request: web.Request, resp: web.StreamResponse, body: Body) -> None:
    transport = request.transport
    if body.file is not None and transport is not None:
        try:
            loop = asyncio.get_running_loop()
            await loop.sendfile(transport, body.file, body.offset, body.size)
            return
        except NotImplementedError:
            body.file.seek(body.offset)
    left = body.size
    while left > 0:
        chunk = await _read(body, min(left, CHUNK))
        await resp.write(chunk)
        left -= len(chunk)


async def _send_faulty(
    request: web.Request, status: int, headers: dict[str, str], body: Body, fault: Fault
) -> web.StreamResponse:
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = body.size
    try:
        writer = await resp.prepare(request)
        if fault.kind == "slow":
            await _send_slow(resp, body, fault.delay)
            await resp.write_eof()
            return resp
        transport = request.transport
        if transport is not None:
            transport.set_write_buffer_limits(high=0)  # so drain() waits until it is sent
        await resp.write(await _read(body, min(body.size // 2, PART_MAX)))
        if writer is not None:
            await writer.drain()
    except ConnectionError:
        return resp
    abort_connection(request, reset=fault.kind == "reset")
    return resp


async def _send_slow(resp: web.StreamResponse, body: Body, delay: float) -> None:
    step = max(1, min(SLOW_CHUNK, -(-body.size // 4)))
    sent = 0
    while sent < body.size:
        if sent:
            await asyncio.sleep(delay)
        chunk = await _read(body, min(step, body.size - sent))
        await resp.write(chunk)
        sent += len(chunk)


def abort_connection(request: web.Request, *, reset: bool) -> None:
    """Close the client connection now: a TCP RST when ``reset``, else a plain FIN."""
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()

"""The designated target's half of get-batch: claim the work item, build and send the archive.

The DT requires the redirect marker (else 401), claims the single-use work item the proxy
registered, reads the re-sent body (reusing the proxy's parse when it is the same), and answers
with a streamed archive (``strm``: `_Streamed`) or a buffered multipart (metadata + archive:
`_buffered`). Body faults (reset, truncate, slow) apply to both answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import tempfile
from typing import IO

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from aisloader.server.batch.assemble import Assembly, assemble
from aisloader.server.batch.request import CONTENT_TYPES, BatchReq, parse_batch_req
from aisloader.server.batch.routing import PATHS, BatchState, default_bucket, read_body, xid
from aisloader.server.batch.writers import Coalescer, make_writer
from aisloader.server.errors import EmuError
from aisloader.server.faults import BODY_KINDS, Fault
from aisloader.server.nodes.delivery import CURRENT_FAULT, Body, abort_connection, send_body
from aisloader.server.nodes.state import Node, Shared

__all__ = ["BatchTargetHandlers"]

WRITE_DEADLINE = 30.0  # AIS aborts a stream after this long without write progress
SPOOL_MEM = 8 << 20  # buffered mode keeps this much in memory, the rest in a temp file


class BatchTargetHandlers:
    """One target's get-batch route (serve a work item the proxy registered)."""

    def __init__(self, shared: Shared, node: Node, batch: BatchState) -> None:
        self._shared = shared
        self._node = node
        self._batch = batch

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/ml/moss[/{bucket}]/{xid}/{wid}/{nat}`` (redirected): the batch's archive.

        Raises:
            EmuError: 401 without the redirect marker, 400 for a bad work path, an unknown
                work item or a bad body, 404 for a missing default bucket, 501 when off.
        """
        node = self._node
        parts = self._batch.gate(request)
        q = request.query
        if "pid" not in q or "utm" not in q:
            raise EmuError(401, f"{node.label}: direct target access denied (start at the proxy)")
        if len(parts) not in (3, 4) or parts[-3] != xid(node) or q.get("tid") != node.daemon_id:
            raise EmuError(400, f"{node.label}: invalid get-batch work path {request.path!r}")
        item = self._batch.work.claim(parts[-2], node.daemon_id)
        default = default_bucket(request, parts[0] if len(parts) == 4 else "")
        raw = await read_body(request)  # the client re-sends the body, as to AIS
        req = item.parsed.take(raw, default) if item.parsed else None
        if req is None:  # a body or default bucket other than the proxy saw: parse it here
            req = parse_batch_req(raw, default)
        if default is not None:
            self._shared.store.bucket_dir(default)
        if req.strm:
            fault = _take_body_fault(self._shared)
            return await _Streamed(request, req, fault).send(self._shared, node.label)
        return await _buffered(self._shared, node, request, req)

    def routes(self) -> list[web.RouteDef]:
        """The route table (every method: the gate answers 405 for all but GET)."""
        return [web.route("*", p, self.serve) for p in PATHS]


class _Cut(Exception):
    """A truncate/reset fault fires: stop the stream here."""


def _take_body_fault(shared: Shared) -> Fault | None:
    decision = CURRENT_FAULT.get()
    if decision is None or decision[1].kind not in BODY_KINDS:
        return None
    shared.faults.note_injected(decision[0], decision[1].kind)
    CURRENT_FAULT.set(None)  # consumed here: the middleware must not apply it again
    return decision[1]


class _Streamed:
    """200 + chunked archive written as entries are read; any later error truncates it.

    A body fault applies here: ``slow`` paces the entries, ``truncate``/``reset`` cut the
    stream half-way through the entries.
    """

    def __init__(self, request: web.Request, req: BatchReq, fault: Fault | None) -> None:
        self._request, self._req, self._fault = request, req, fault
        ctype = CONTENT_TYPES[req.kind]
        self._resp = web.StreamResponse(status=200, headers={"Content-Type": ctype})
        self._resp.enable_chunked_encoding()
        self._out = Coalescer(self._write)
        self._cut_at = -(-len(req.entries) // 2)

    async def _write(self, data: bytes | bytearray) -> None:
        """One chunked frame, one deadline."""
        async with asyncio.timeout(WRITE_DEADLINE):
            await self._resp.write(data)

    async def _pace(self, i: int) -> None:
        fault = self._fault
        if fault is not None and fault.kind == "slow" and i:
            await self._out.flush()
            await asyncio.sleep(fault.delay)
        elif fault is not None and fault.kind != "slow" and i == self._cut_at:
            raise _Cut

    async def send(self, shared: Shared, label: str) -> web.StreamResponse:
        """Send the answer; errors after the 200 only cut the stream, as in AIS."""
        request, out = self._request, self._out
        writer = await self._resp.prepare(request)
        arch = make_writer(self._req.kind)
        a = Assembly(
            shared.store, shared.archives, label, self._req, arch, out.emit, self._pace, out.flush
        )
        a.keep_outs = False  # the `out` list goes only into buffered answers
        try:
            await assemble(a)
            await out.flush()
            await self._resp.write_eof()
        except _Cut:
            await self._cut(writer)
        except TimeoutError:  # the client stopped reading
            abort_connection(request, reset=False)
        except (EmuError, OSError):  # as AIS: after the 200, only a cut stream
            await _flush_quietly(out)
            abort_connection(request, reset=False)
        return self._resp

    async def _cut(self, writer: AbstractStreamWriter | None) -> None:
        """Send what is held back, wait until it is sent, then close or reset the connection."""
        request = self._request
        await _flush_quietly(self._out)
        if request.transport is not None and writer is not None:
            request.transport.set_write_buffer_limits(high=0)  # drain() waits until sent
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        fault = self._fault
        abort_connection(request, reset=fault is not None and fault.kind == "reset")


async def _flush_quietly(out: Coalescer) -> None:
    """Send what was held back before a cut (entries before it arrive, as if not coalesced)."""
    with contextlib.suppress(OSError):  # TimeoutError and connection errors included
        await out.flush()


async def _no_pace(i: int) -> None:
    return None


async def _buffered(
    shared: Shared, node: Node, request: web.Request, req: BatchReq
) -> web.StreamResponse:
    """200 multipart/mixed (metadata, archive) once the whole archive is built."""
    tmpdir = str(shared.store.tmp_path().parent)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEM, dir=tmpdir)  # noqa: SIM115

    async def write(data: bytes | bytearray) -> None:
        spool.write(data)

    out = Coalescer(write)
    try:
        writer = make_writer(req.kind)
        a = Assembly(shared.store, shared.archives, node.label, req, writer, out.emit, _no_pace)
        await assemble(a)
        await out.flush()
        boundary = secrets.token_hex(30)
        head, tail = _multipart_frame(boundary, xid(node), a.outs)
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    body = Body(_Chain(head, spool, tail), len(head) + size + len(tail))
    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
    return await send_body(request, 200, headers, body, shared.faults.note_injected)


def _multipart_frame(boundary: str, job: str, outs: list[dict[str, object]]) -> tuple[bytes, bytes]:
    """What goes before the archive (the metadata part, the archive part's headers) and after."""
    meta = json.dumps({"uuid": job, "out": outs}, separators=(",", ":"))
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{meta}\n'
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="archive"; '
        f'filename="{job}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode()


class _Chain:
    """``head`` + the spooled archive + ``tail`` as one reader; closing it frees the spool."""

    def __init__(self, head: bytes, spool: IO[bytes], tail: bytes) -> None:
        self._parts: list[bytes | IO[bytes]] = [head, spool, tail]
        self._spool = spool

    def read(self, n: int = -1, /) -> bytes:
        while self._parts:
            part = self._parts[0]
            if isinstance(part, bytes):
                if not part:
                    self._parts.pop(0)
                    continue
                k = len(part) if n < 0 else n
                self._parts[0] = part[k:]
                return part[:k]
            chunk = part.read(n)
            if chunk:
                return chunk
            self._parts.pop(0)
        return b""

    def close(self) -> None:
        self._spool.close()

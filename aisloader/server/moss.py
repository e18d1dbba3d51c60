"""Get-batch (``/v1/ml/moss``) routes: the proxy's 307 and the designated target's answer.

Proxy: validate the body, check buckets, pick the designated target (DT), register a single-use
work item and redirect. DT: require the redirect marker (else 401), claim the work item, parse
the re-sent body, and answer with a streamed archive (``strm``) or a buffered multipart
(metadata + archive). Body faults (reset, truncate, slow) apply to both answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import tempfile
import time
from typing import IO

from aiohttp import web

from aisloader.server.delivery import CURRENT_FAULT, Body, abort_connection, send_body
from aisloader.server.errors import EmuError
from aisloader.server.faults import BODY_KINDS, Fault
from aisloader.server.mossarch import Coalescer, make_writer
from aisloader.server.mossbuild import Assembly, assemble
from aisloader.server.mossreq import CONTENT_TYPES, MossReq, parse_coloc, parse_moss_req
from aisloader.server.mosswork import Parsed
from aisloader.server.names import BucketId, parse_bucket
from aisloader.server.nodes import Node, Shared

__all__ = ["moss_proxy_routes", "moss_target_routes"]

MAX_BODY = 64 << 20  # bound on a get-batch request body
WRITE_DEADLINE = 30.0  # AIS aborts a stream after this long without write progress
SPOOL_MEM = 8 << 20  # buffered mode keeps this much in memory, the rest in a temp file
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_PATHS = ("/v1/ml/moss", "/v1/ml/moss/{tail:.*}")


class _Cut(Exception):
    """A truncate/reset fault fires: stop the stream here."""


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if not n:
            return out


def _xid(node: Node) -> str:
    return f"gbt-{node.daemon_id[1:]}"


def _gate(shared: Shared, request: web.Request) -> list[str]:
    """The path segments after ``/v1/ml/moss`` of an enabled GET.

    Raises:
        EmuError: 501 when get-batch is switched off, 405 for another method.
    """
    if not shared.get_batch:
        raise EmuError(501, "get-batch (/v1/ml/moss) is disabled in this cluster", "ErrNotImpl")
    if request.method != "GET":
        raise EmuError(405, f"{request.method} {request.path}: get-batch expects GET")
    return [p for p in request.match_info.get("tail", "").split("/") if p]


def _default_bucket(request: web.Request, name: str) -> BucketId | None:
    q = request.query
    return parse_bucket(name, q.get("provider", ""), q.get("namespace", "")) if name else None


async def _read_body(request: web.Request) -> bytes:
    parts, total = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        total += len(chunk)
        if total > MAX_BODY:
            raise EmuError(413, f"get-batch request body exceeds {MAX_BODY} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _designate(shared: Shared, req: MossReq, coloc: int) -> Node:
    """coloc 0: a seeded-random target; else the HRW owner of most entries (first to lead)."""
    targets = shared.targets
    if coloc == 0:
        return targets[shared.moss_work.pick(len(targets))]
    counts: dict[str, int] = {}
    best, top = targets[0], 0
    for e in req.entries:
        t = shared.owner(e.bucket, e.objname)
        counts[t.daemon_id] = n = counts.get(t.daemon_id, 0) + 1
        if n > top:
            best, top = t, n
    return best


def moss_proxy_routes(shared: Shared) -> list[web.RouteDef]:
    """The proxy's get-batch routes (validate, pick the DT, 307)."""
    store = shared.store
    pid = shared.proxy.daemon_id

    async def start(request: web.Request) -> web.Response:
        parts = _gate(shared, request)
        if len(parts) > 1:
            raise EmuError(400, f"invalid get-batch path {request.path!r} (expected /v1/ml/moss/b)")
        default = _default_bucket(request, parts[0] if parts else "")
        coloc = parse_coloc(request.query.get("coloc", ""))
        raw = await _read_body(request)
        req = parse_moss_req(raw, default)
        if default is not None:
            store.bucket_dir(default)
        if not req.coer:  # with coer a missing entry bucket becomes a __404__ member
            for b in sorted({e.bucket for e in req.entries}):
                store.bucket_dir(b)
        dt = _designate(shared, req, coloc or req.coloc)
        url = request.rel_url
        key = f"GET {url.raw_path}?{url.query_string}"
        wid = shared.moss_work.register(dt.daemon_id, key, raw, Parsed(raw, default, req))
        where = f"/{parts[0]}" if parts else ""
        query = url.raw_query_string
        marker = f"tid={dt.daemon_id}&pid={pid}&utm={_base36(time.time_ns())}"
        loc = f"{dt.url}/v1/ml/moss{where}/{_xid(dt)}/{wid}/{len(shared.targets)}?"
        loc += f"{query}&{marker}" if query else marker
        shared.stats.incr("proxy.redirects")
        return web.Response(status=307, headers={"Location": loc})

    return [web.route("*", p, start) for p in _PATHS]


def moss_target_routes(shared: Shared, node: Node) -> list[web.RouteDef]:
    """A target's get-batch routes (serve a work item the proxy registered)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        parts = _gate(shared, request)
        q = request.query
        if "pid" not in q or "utm" not in q:
            raise EmuError(401, f"{node.label}: direct target access denied (start at the proxy)")
        if len(parts) not in (3, 4) or parts[-3] != _xid(node) or q.get("tid") != node.daemon_id:
            raise EmuError(400, f"{node.label}: invalid get-batch work path {request.path!r}")
        item = shared.moss_work.claim(parts[-2], node.daemon_id)
        default = _default_bucket(request, parts[0] if len(parts) == 4 else "")
        raw = await _read_body(request)  # the client re-sends the body, as to AIS
        req = item.parsed.take(raw, default) if item.parsed else None
        if req is None:  # a body or default bucket other than the proxy saw: parse it here
            req = parse_moss_req(raw, default)
        if default is not None:
            shared.store.bucket_dir(default)
        if req.strm:
            return await _stream(shared, node, request, req)
        return await _buffered(shared, node, request, req)

    return [web.route("*", p, serve) for p in _PATHS]


def _take_body_fault(shared: Shared) -> Fault | None:
    decision = CURRENT_FAULT.get()
    if decision is None or decision[1].kind not in BODY_KINDS:
        return None
    shared.faults.note_injected(decision[0], decision[1].kind)
    CURRENT_FAULT.set(None)  # consumed here: the middleware must not apply it again
    return decision[1]


async def _stream(
    shared: Shared, node: Node, request: web.Request, req: MossReq
) -> web.StreamResponse:
    """200 + chunked archive written as entries are read; any later error truncates it."""
    fault = _take_body_fault(shared)
    resp = web.StreamResponse(status=200, headers={"Content-Type": CONTENT_TYPES[req.kind]})
    resp.enable_chunked_encoding()
    writer = await resp.prepare(request)
    cut = -(-len(req.entries) // 2)

    async def write(data: bytes | bytearray) -> None:  # one chunked frame, one deadline
        async with asyncio.timeout(WRITE_DEADLINE):
            await resp.write(data)

    out = Coalescer(write)

    async def pace(i: int) -> None:
        if fault is not None and fault.kind == "slow" and i:
            await out.flush()
            await asyncio.sleep(fault.delay)
        elif fault is not None and fault.kind != "slow" and i == cut:
            raise _Cut

    arch = make_writer(req.kind)
    a = Assembly(shared.store, shared.archives, node.label, req, arch, out.emit, pace, out.flush)
    a.keep_outs = False  # MossOut goes only into buffered answers
    try:
        await assemble(a)
        await out.flush()
        await resp.write_eof()
    except _Cut:
        await _flush_quietly(out)
        if request.transport is not None and writer is not None:
            request.transport.set_write_buffer_limits(high=0)  # drain() waits until sent
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        abort_connection(request, reset=fault is not None and fault.kind == "reset")
    except TimeoutError:  # the client stopped reading
        abort_connection(request, reset=False)
    except (EmuError, OSError):  # as AIS: after the 200, only a cut stream
        await _flush_quietly(out)
        abort_connection(request, reset=False)
    return resp


async def _flush_quietly(out: Coalescer) -> None:
    """Send what was held back before a cut (entries before it arrive, as if not coalesced)."""
    with contextlib.suppress(OSError):  # TimeoutError and connection errors included
        await out.flush()


async def _no_pace(i: int) -> None:
    return None


async def _buffered(
    shared: Shared, node: Node, request: web.Request, req: MossReq
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
        xid = _xid(node)
        meta = json.dumps({"uuid": xid, "out": a.outs}, separators=(",", ":"))
        boundary = secrets.token_hex(30)
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{meta}\n'
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="archive"; '
            f'filename="{xid}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    body = Body(_Chain(head, spool, tail), len(head) + size + len(tail))
    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
    return await send_body(request, 200, headers, body, shared.faults.note_injected)


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

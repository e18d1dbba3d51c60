"""Inline ETL on a target's GET: find the ETL a request names, run it, send its output.

`etl_call` reads ``etl_name``/``etl_args`` (and refuses what cannot work: a ``Range`` header,
``etl_pipeline``, an unknown name); `send_transformed` reads the object or archive member whole,
runs the function in a worker thread and answers 200 with the output. The registry itself is
`aisloader.server.etl.EtlRegistry`, one per cluster, in `Shared.etls`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from io import BytesIO

from aiohttp import web

from aisloader.server.errors import EmuError
from aisloader.server.etl import EtlArgsError, EtlFn
from aisloader.server.nodes.delivery import Body, read_whole, send_body
from aisloader.server.nodes.state import Node, Shared

__all__ = ["EtlCall", "etl_call", "send_transformed"]


@dataclass(frozen=True)
class EtlCall:
    """One transform a GET asks for: the ETL's name and function, its raw ``etl_args``, and
    ``what`` it transforms (``ais://b/o``, for messages)."""

    name: str
    fn: EtlFn
    args: str | None
    what: str


def etl_call(request: web.Request, shared: Shared, node: Node, what: str) -> EtlCall | None:
    """The ETL ``request`` names with ``etl_name``, or None when it names none (absent or empty).

    Raises:
        EmuError: 400 with a ``Range`` header, 501 ErrNotImpl for ``etl_pipeline``,
            404 ErrNotFound (``etl job "NAME" does not exist``) for an unknown name.
    """
    q = request.query
    name = q.get("etl_name", "")
    if not name:
        return None
    if q.get("etl_pipeline"):
        msg = f"{what}: etl_pipeline (chained ETLs) is not implemented by the emulator"
        raise EmuError(501, msg, "ErrNotImpl")
    if "Range" in request.headers:
        raise EmuError(
            400,
            f'{what}: etl_name "{name}" cannot be combined with a Range header '
            "(an ETL transforms the whole object: drop the Range or the etl_name)",
        )
    fn = shared.etls.get(name)
    if fn is None:
        raise EmuError(404, f'{node.label}: etl job "{name}" does not exist', "ErrNotFound")
    return EtlCall(name, fn, q.get("etl_args"), what)


async def _transform(call: EtlCall, data: bytes, label: str) -> bytes:
    """``call.fn(data, args)`` in a worker thread; failures become AIS errors.

    Raises:
        EmuError: 400 when the function raises `EtlArgsError`, 500 for any other exception
            or a result that is not bytes.
    """
    where = f'{label}: etl job "{call.name}"'
    try:
        out = await asyncio.to_thread(call.fn, data, call.args)
    except EtlArgsError as e:
        raise EmuError(400, f"{where} rejected etl_args={call.args!r} for {call.what}: {e}") from e
    except Exception as e:
        raise EmuError(500, f"{where} failed on {call.what}: {type(e).__name__}: {e}") from e
    if not isinstance(out, bytes | bytearray | memoryview):
        msg = f"{where} returned {type(out).__name__} for {call.what}, expected bytes"
        raise EmuError(500, msg)
    return bytes(out)


async def send_transformed(
    request: web.Request,
    shared: Shared,
    node: Node,
    call: EtlCall,
    body: Body,
    headers: dict[str, str],
) -> web.StreamResponse:
    """Answer ``request`` with 200 and ``call`` applied to all of ``body`` (closed here).

    ``headers`` must carry no checksum: it would describe the stored bytes, not the output.

    Raises:
        EmuError: 400 or 500 when the ETL function fails (see `_transform`).
    """
    data = await read_whole(body)
    try:
        out = await _transform(call, data, node.label)
    except EmuError:
        shared.stats.incr("etl.errors")
        raise
    shared.stats.incr("etl.calls")
    out_body = Body(BytesIO(out), len(out))
    return await send_body(request, 200, headers, out_body, shared.faults.note_injected)

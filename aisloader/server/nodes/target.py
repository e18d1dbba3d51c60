"""A target's object routes: GET (whole, range, archive member, inline ETL), HEAD, PUT, DELETE.

GET with ``etl_name`` runs the named ETL over the object or archive member (`nodes.etl`).

A target also serves get-batch; those routes live in `aisloader.server.batch.target`.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import IO

from aiohttp import web

from aisloader.server.archive import archive_kind, member_name
from aisloader.server.errors import EmuError, clip
from aisloader.server.names import BucketId
from aisloader.server.nodes.app import bucket_of
from aisloader.server.nodes.delivery import SMALL, Body, send_body
from aisloader.server.nodes.etl import EtlCall, etl_call, send_transformed
from aisloader.server.nodes.state import Node, Shared
from aisloader.server.store import ObjMeta, new_hash

__all__ = ["TargetHandlers", "parse_range"]

_RANGE_RE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})", re.ASCII)
_INT64_MAX = (1 << 63) - 1
_HEAD_PROPS = frozenset(
    {"name", "size", "version", "checksum", "atime", "custom", "location", "copies", "ec"}
    | {"chunked", "last-modified", "etag"}
)
_OCTET = "application/octet-stream"
_PUT_CHUNK = 1 << 20


def parse_range(header: str, size: int) -> tuple[int, int]:
    """``(start, count)`` of a single-range ``Range`` header for an object of ``size`` bytes.

    Positions are ASCII digits that fit an int64, as Go's ``strconv.ParseInt`` reads them:
    anything else (``"١"``, a 5,000-digit number) is a malformed range, never a ``ValueError``.

    Raises:
        EmuError: 416 (with ``Content-Range: bytes */size``) for a malformed, multi-part or
            unsatisfiable range.
    """
    m = _RANGE_RE.fullmatch(header.strip())
    start = end = -1
    if m and (m[1] or m[2]) and max(int(m[1] or 0), int(m[2] or 0)) <= _INT64_MAX:
        if not m[1]:  # suffix: the last n bytes
            n = int(m[2])
            start, end = max(0, size - n), size - 1 if n > 0 else -1
        else:
            start = int(m[1])
            end = min(int(m[2]), size - 1) if m[2] else size - 1
    if start < 0 or start >= size or end < start:
        raise EmuError(
            416,
            f"invalid range {clip(header)!r} for an object of {size} bytes",
            "ErrRangeNotSatisfiable",
            {"Content-Range": f"bytes */{size}"},
        )
    return start, end - start + 1


def _meta_headers(meta: ObjMeta) -> dict[str, str]:
    return {
        "Ais-Checksum-Type": meta.cktype,
        "Ais-Checksum-Value": meta.cksum,
        "Ais-Atime": str(meta.mtime_ns),
        "Ais-Version": str(meta.version),
    }


def _missing(node: Node, b: BucketId, name: str) -> EmuError:
    return EmuError(404, f"{node.label}: {b.display}/{name} does not exist", "ErrNotFound")


def _has_marker(request: web.Request) -> bool:
    return "pid" in request.query and "utm" in request.query


class TargetHandlers:
    """One target's object routes; `routes` is the table."""

    def __init__(self, shared: Shared, node: Node) -> None:
        self._shared = shared
        self._store = shared.store
        self._node = node

    def _open(self, b: BucketId, name: str) -> tuple[Path, IO[bytes]]:
        path = self._store.object_path(b, name)
        try:
            return path, open(path, "rb")  # closed by send_body or the caller
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _missing(self._node, b, name) from None

    async def _meta(self, b: BucketId, path: Path, f: IO[bytes]) -> ObjMeta:
        """The object's metadata with a checksum of ``b``'s type (computed lazily)."""
        store = self._store
        kind = store.checksum_type(b)
        st = os.fstat(f.fileno())
        meta = store.cached_meta(path, st, kind)
        if meta is not None:
            return meta
        if st.st_size <= SMALL:
            return store.compute_meta(path, f, kind)
        return await asyncio.to_thread(store.compute_meta, path, f, kind)

    async def get_object(self, request: web.Request) -> web.StreamResponse:
        """``GET``: the whole object, one byte range (206) or an archive member (``archpath``),
        transformed by the ETL ``etl_name`` names, if any.

        Raises:
            EmuError: 404 missing object or ETL, 416 bad range, 400 range with ``archpath`` or
                ``etl_name``, 501 multi-select or ``etl_pipeline``, 500 when the ETL fails.
        """
        b = bucket_of(request)
        name = request.match_info["obj"]
        q = request.query
        if q.get("archmode") or q.get("archregx"):
            raise EmuError(501, "archregx/archmode multi-select is not implemented", "ErrNotImpl")
        archpath = q.get("archpath", "")
        what = f"{b.display}/{name}" + (f" (archpath {archpath!r})" if archpath else "")
        etl = etl_call(request, self._shared, self._node, what)
        if archpath:
            if "Range" in request.headers:
                raise EmuError(
                    400, f"{b.display}/{name}: range read with archpath is not supported"
                )
            return await self._get_member(b, name, archpath, request, etl)
        if etl is not None:
            return await self._get_transformed(b, name, request, etl)
        path, f = self._open(b, name)
        try:
            meta = await self._meta(b, path, f)
            headers = {"Content-Type": _OCTET, "Accept-Ranges": "bytes", **_meta_headers(meta)}
            start, count, status = 0, meta.size, 200
            if (rng := request.headers.get("Range")) is not None:
                start, count = parse_range(rng, meta.size)
                headers["Content-Range"] = f"bytes {start}-{start + count - 1}/{meta.size}"
                status = 206
            f.seek(start)
        except BaseException:
            f.close()
            raise
        body = Body(f, count, file=f, offset=start)
        return await send_body(request, status, headers, body, self._shared.faults.note_injected)

    async def _get_transformed(
        self, b: BucketId, name: str, request: web.Request, etl: EtlCall
    ) -> web.StreamResponse:
        """The whole object through ``etl``: no checksum headers (they describe the stored
        bytes), the stored object's version kept."""
        path, f = self._open(b, name)
        try:
            meta = await self._meta(b, path, f)
            f.seek(0)
        except BaseException:
            f.close()
            raise
        headers = {"Content-Type": _OCTET, "Ais-Version": str(meta.version)}
        return await send_transformed(
            request, self._shared, self._node, etl, Body(f, meta.size), headers
        )

    async def _get_member(
        self, b: BucketId, name: str, archpath: str, request: web.Request, etl: EtlCall | None
    ) -> web.StreamResponse:
        kind = archive_kind(name)
        if not kind:
            raise EmuError(400, f"{b.display}/{name} is not an archive (.tar, .tgz, .zip)")
        path = self._store.object_path(b, name)
        archives = self._shared.archives
        try:
            members = await asyncio.to_thread(archives.members, path, kind)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise _missing(self._node, b, name) from None
        member = members.get(member_name(name, archpath))
        if member is None:
            raise _missing(self._node, b, f"{name}/{member_name(name, archpath)}")
        headers = {"Content-Type": _OCTET}
        if kind == "tar":
            _, f = self._open(b, name)
            f.seek(member.offset)
            body = Body(f, member.size, file=f, offset=member.offset)
        else:
            reader = await asyncio.to_thread(archives.open_member, path, kind, member)
            body = Body(reader, member.size)
        if etl is not None:
            return await send_transformed(request, self._shared, self._node, etl, body, headers)
        return await send_body(request, 200, headers, body, self._shared.faults.note_injected)

    async def head_object(self, request: web.Request) -> web.Response:
        """``HEAD``: size and metadata headers (all of them, or the ``props`` asked for).

        Raises:
            EmuError: 404 missing, 400 for an unknown property.
        """
        b = bucket_of(request)
        name = request.match_info["obj"]
        props = [p for p in request.query.get("props", "").split(",") if p]
        if bad := [p for p in props if p not in _HEAD_PROPS]:
            raise EmuError(400, f"invalid object property {bad[0]!r} in {b.display}/{name}")
        path, f = self._open(b, name)
        with f:
            meta = await self._meta(b, path, f)
        headers = {"Content-Length": str(meta.size), "Ais-Present": "true"}
        full = _meta_headers(meta)
        label = self._node.label
        if not props:
            headers |= full | {"Ais-Name": name, "Ais-Bucket-Name": b.name}
            headers |= {"Ais-Bucket-Provider": b.provider, "Ais-Location": label}
        else:
            headers |= _prop_headers(props, full, label)
        return web.Response(headers=headers)

    async def put_object(self, request: web.Request) -> web.Response:
        """``PUT`` (redirected only): write to a temp file, then rename it into place.

        Raises:
            EmuError: 400 without the redirect marker or for a bad name, 404 missing bucket,
                409 name conflict, 501 APPEND.
        """
        b = bucket_of(request)
        name = request.match_info["obj"]
        if not _has_marker(request):
            raise EmuError(400, f"PUT {b.display}/{name}: request is expected to be redirected")
        if "append_type" in request.query:
            raise EmuError(501, "APPEND is not implemented by the emulator", "ErrNotImpl")
        store = self._store
        store.object_path(b, name)
        tmp = store.tmp_path()
        kind = store.checksum_type(b)
        h = new_hash(kind)
        try:
            with open(tmp, "wb") as f:  # noqa: ASYNC230 - page-cache writes, microseconds
                while chunk := await request.content.read(_PUT_CHUNK):
                    h.update(chunk)
                    f.write(chunk)
            meta = store.commit(b, name, tmp, h.hexdigest(), kind)
        finally:
            tmp.unlink(missing_ok=True)
        return web.Response(headers=_meta_headers(meta))

    async def delete_object(self, request: web.Request) -> web.Response:
        """``DELETE`` (redirected only).

        Raises:
            EmuError: 400 without the redirect marker, 404 when the object does not exist.
        """
        b = bucket_of(request)
        name = request.match_info["obj"]
        if not _has_marker(request):
            raise EmuError(400, f"DELETE {b.display}/{name}: request is expected to be redirected")
        if not await asyncio.to_thread(self._store.delete, b, name):
            label = self._node.label
            raise EmuError(404, f"{label}: {b.display}/{name} doesn't exist", "ErrNotFound")
        return web.Response()

    def routes(self) -> list[web.RouteDef]:
        """The route table."""
        path = "/v1/objects/{bucket}/{obj:.+}"
        return [
            web.get(path, self.get_object, allow_head=False),
            web.head(path, self.head_object),
            web.put(path, self.put_object),
            web.delete(path, self.delete_object),
        ]


def _prop_headers(props: list[str], full: dict[str, str], label: str) -> dict[str, str]:
    """The HEAD headers of the requested ``props`` (``full``: all metadata headers)."""
    headers: dict[str, str] = {}
    if "checksum" in props:
        headers |= {k: full[k] for k in ("Ais-Checksum-Type", "Ais-Checksum-Value")}
    if "atime" in props:
        headers["Ais-Atime"] = full["Ais-Atime"]
    if "version" in props:
        headers["Ais-Version"] = full["Ais-Version"]
    if "location" in props:
        headers["Ais-Location"] = f"{label}:/emu"
    if "copies" in props:
        headers |= {"Ais-Mirror-Copies": "1", "Ais-Mirror-Paths": "[/emu]"}
    return headers

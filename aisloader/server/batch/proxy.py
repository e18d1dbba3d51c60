"""The proxy's half of get-batch: validate, pick the designated target (DT), register, 307.

The proxy parses the body (so most bad requests are refused before any redirect), checks the
buckets, picks the DT by ``coloc``, registers a single-use work item for it and redirects the
client there (protocol doc 6.1). The client re-sends the same body to the DT.
"""

from __future__ import annotations

from aiohttp import web

from aisloader.server.batch.request import BatchReq, parse_batch_req, parse_coloc
from aisloader.server.batch.routing import PATHS, BatchState, default_bucket, read_body, xid
from aisloader.server.batch.work import Parsed
from aisloader.server.errors import EmuError
from aisloader.server.names import BucketId
from aisloader.server.nodes.proxy import redirect_marker
from aisloader.server.nodes.state import Node, Shared

__all__ = ["BatchProxyHandlers"]


class BatchProxyHandlers:
    """The proxy's get-batch route; `routes` is the table."""

    def __init__(self, shared: Shared, batch: BatchState) -> None:
        self._shared = shared
        self._batch = batch

    async def start(self, request: web.Request) -> web.Response:
        """``GET /v1/ml/moss[/{bucket}]`` with a JSON body: 307 to the designated target.

        Raises:
            EmuError: 400 for a bad path or body, 404 for a missing bucket, 416 for a bad range,
                429 when the DT has too many pending items, 501 when switched off.
        """
        parts = self._batch.gate(request)
        if len(parts) > 1:
            raise EmuError(400, f"invalid get-batch path {request.path!r} (expected /v1/ml/moss/b)")
        default = default_bucket(request, parts[0] if parts else "")
        coloc = parse_coloc(request.query.get("coloc", ""))
        raw = await read_body(request)
        req = parse_batch_req(raw, default)
        self._check_buckets(req, default)
        dt = self._designate(req, coloc or req.coloc)
        url = request.rel_url
        key = f"GET {url.raw_path}?{url.query_string}"
        wid = self._batch.work.register(dt.daemon_id, key, raw, Parsed(raw, default, req))
        loc = self._location(request, parts, dt, wid)
        self._shared.stats.incr("proxy.redirects")
        return web.Response(status=307, headers={"Location": loc})

    def _check_buckets(self, req: BatchReq, default: BucketId | None) -> None:
        store = self._shared.store
        if default is not None:
            store.bucket_dir(default)
        if not req.coer:  # with coer a missing entry bucket becomes a __404__ member
            for b in sorted({e.bucket for e in req.entries}):
                store.bucket_dir(b)

    def _designate(self, req: BatchReq, coloc: int) -> Node:
        """coloc 0: a seeded-random target; else the HRW owner of most entries (first to lead)."""
        targets = self._shared.targets
        if coloc == 0:
            return targets[self._batch.work.pick(len(targets))]
        counts: dict[str, int] = {}
        best, top = targets[0], 0
        for e in req.entries:
            t = self._shared.owner(e.bucket, e.objname)
            counts[t.daemon_id] = n = counts.get(t.daemon_id, 0) + 1
            if n > top:
                best, top = t, n
        return best

    def _location(self, request: web.Request, parts: list[str], dt: Node, wid: str) -> str:
        """``{DT}/v1/ml/moss[/b]/{xid}/{wid}/{nat}?{query}&tid=..&pid=..&utm=..``."""
        where = f"/{parts[0]}" if parts else ""
        query = request.rel_url.raw_query_string
        marker = f"tid={dt.daemon_id}&{redirect_marker(self._shared.proxy.daemon_id)}"
        loc = f"{dt.url}/v1/ml/moss{where}/{xid(dt)}/{wid}/{len(self._shared.targets)}?"
        return loc + (f"{query}&{marker}" if query else marker)

    def routes(self) -> list[web.RouteDef]:
        """The route table (every method: the gate answers 405 for all but GET)."""
        return [web.route("*", p, self.start) for p in PATHS]

"""What both get-batch hops share: the route paths, the on/off switch, the request body, job ids.

`BatchState` is the get-batch state the proxy and every target share (the switch and the work
registry); `LocalCluster` makes one and hands it to `BatchProxyHandlers` and to each target's
`BatchTargetHandlers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from aisloader.server.batch.work import WorkRegistry
from aisloader.server.errors import EmuError
from aisloader.server.names import BucketId, parse_bucket
from aisloader.server.nodes.state import Node

__all__ = ["MAX_BODY", "PATHS", "BatchState", "default_bucket", "read_body", "xid"]

MAX_BODY = 64 << 20  # bound on a get-batch request body
PATHS = ("/v1/ml/moss", "/v1/ml/moss/{tail:.*}")


@dataclass
class BatchState:
    """Get-batch state shared by the proxy and all targets.

    ``enabled=False`` answers every get-batch request with 501 ErrNotImpl.
    """

    work: WorkRegistry
    enabled: bool = True

    def gate(self, request: web.Request) -> list[str]:
        """The path segments after ``/v1/ml/moss`` of an enabled GET.

        Raises:
            EmuError: 501 when get-batch is switched off, 405 for another method, 400 for an
                ``etl_name`` (AIS's MossReq has no ETL: the entries would come back untransformed).
        """
        if not self.enabled:
            raise EmuError(501, "get-batch (/v1/ml/moss) is disabled in this cluster", "ErrNotImpl")
        if request.method != "GET":
            raise EmuError(405, f"{request.method} {request.path}: get-batch expects GET")
        if etl := request.query.get("etl_name"):
            raise EmuError(
                400,
                f'get-batch (/v1/ml/moss) does not apply ETL (etl_name "{etl}"): '
                "read the objects one by one with GET ?etl_name= to transform them",
            )
        return [p for p in request.match_info.get("tail", "").split("/") if p]


def default_bucket(request: web.Request, name: str) -> BucketId | None:
    """The bucket named in the URL path (``name``, with the query's provider), if any.

    Raises:
        EmuError: 400 for a bad bucket name, provider or namespace.
    """
    q = request.query
    return parse_bucket(name, q.get("provider", ""), q.get("namespace", "")) if name else None


async def read_body(request: web.Request) -> bytes:
    """The whole request body.

    Raises:
        EmuError: 413 past `MAX_BODY` bytes.
    """
    parts, total = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):
        total += len(chunk)
        if total > MAX_BODY:
            raise EmuError(413, f"get-batch request body exceeds {MAX_BODY} bytes")
        parts.append(chunk)
    return b"".join(parts)


def xid(node: Node) -> str:
    """The job id a target puts in its work URLs and answers (``gbt-`` + its id)."""
    return f"gbt-{node.daemon_id[1:]}"

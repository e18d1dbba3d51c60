"""Direct reads (smap + HRW straight to the owner), and their fallbacks to the proxy."""

from __future__ import annotations

import socket

from _shared import FAST, fake_server
from aiohttp import web

from aisloader.core.client import AsyncClient
from aisloader.core.http.direct import Direct
from aisloader.core.http.wire import NetInfo, Smap, Snode
from aisloader.server import LocalCluster


def _direct(client: AsyncClient) -> Direct:
    d = client._http.direct
    assert d is not None
    return d


def _one_target_smap(url: str) -> Smap:
    return Smap(tmap={"tX": Snode("tX", "target", NetInfo(url), 0, 12345)}, version="99")


async def test_direct_reads_skip_the_proxy(cluster: LocalCluster, bucket: str) -> None:
    objs = {f"d{i}": bytes([i]) * (i + 1) for i in range(30)}
    for n, d in objs.items():
        cluster.put_object(bucket, n, d)
    async with AsyncClient(cluster.endpoint, config=FAST.replace(direct_reads=True)) as c:
        before = cluster.stats()
        got = {r.name: d async for r, d in c.get_many([(bucket, n) for n in objs])}
        assert (await c.head((bucket, "d3"))).size == 4
        after = cluster.stats()
        assert got == objs
        assert after["proxy.redirects"] == before["proxy.redirects"]
        assert after["target.GET"] - before["target.GET"] == 30
        assert c.stats.redirects == 0
        assert _direct(c).refreshes == 1  # one smap read, not one per request


async def test_direct_403_falls_back_and_stays_on_proxy(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "x", b"payload")
    hits = 0

    async def deny(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.json_response({"message": "direct target access denied"}, status=403)

    cfg = FAST.replace(direct_reads=True)
    async with (
        fake_server([web.route("*", "/{tail:.*}", deny)]) as fake,
        AsyncClient(cluster.endpoint, config=cfg) as c,
    ):
        _direct(c).use(_one_target_smap(fake))
        assert await c.get((bucket, "x")) == b"payload"
        assert await c.get((bucket, "x")) == b"payload"
        assert not _direct(c).enabled
        assert hits == 1
        assert c.stats.redirects == 2  # both reads went through the proxy


async def test_direct_refused_falls_back_and_refreshes(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "y", b"why")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with AsyncClient(cluster.endpoint, config=FAST.replace(direct_reads=True)) as c:
        d = _direct(c)
        d.use(_one_target_smap(dead))
        assert await c.get((bucket, "y")) == b"why"  # refused at the dead "target": via proxy
        assert c.stats.redirects == 1
        assert d.enabled
        before = cluster.stats()["proxy.redirects"]
        assert await c.get((bucket, "y")) == b"why"  # smap re-read: straight to the owner
        assert d.refreshes == 1
        assert cluster.stats()["proxy.redirects"] == before
        assert d.smap is not None
        assert len(d.smap.tmap) == 2


async def test_direct_smap_unreadable_uses_proxy(bucket: str, cluster: LocalCluster) -> None:
    cluster.put_object(bucket, "z", b"zed")

    async def forbidden(request: web.Request) -> web.Response:
        return web.json_response({"message": "no"}, status=403)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"{cluster.endpoint}{request.rel_url}")

    routes = [web.get("/v1/daemon", forbidden), web.get("/v1/objects/{tail:.*}", redirect)]
    async with fake_server(routes) as fake:  # noqa: SIM117 - the client needs the URL
        async with AsyncClient(fake, config=FAST.replace(direct_reads=True)) as c:
            assert await c.get((bucket, "z")) == b"zed"
            assert not _direct(c).enabled

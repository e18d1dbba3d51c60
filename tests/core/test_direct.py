"""Direct reads (smap + HRW straight to the owner), and their fallbacks to the proxy."""

from __future__ import annotations

import socket

import msgspec
import pytest
from _shared import FAST, fake_server
from aiohttp import web
from yarl import URL

from aisloader.config import ClientConfig
from aisloader.core.client import AsyncClient
from aisloader.core.http.direct import Direct
from aisloader.core.http.wire import NetInfo, Smap, Snode
from aisloader.errors import ObjectNotFound
from aisloader.server import LocalCluster


def _direct(client: AsyncClient) -> Direct:
    d = client._http.direct
    assert d is not None
    return d


def _one_target_smap(url: str) -> Smap:
    return Smap(tmap={"tX": Snode("tX", "target", NetInfo(url), 0, 12345)}, version="99")


async def test_direct_reads_skip_the_proxy_by_default(cluster: LocalCluster, bucket: str) -> None:
    objs = {f"d{i}": bytes([i]) * (i + 1) for i in range(30)}
    for n, d in objs.items():
        cluster.put_object(bucket, n, d)
    assert ClientConfig().direct_reads
    async with AsyncClient(cluster.endpoint, config=FAST) as c:
        before = cluster.stats()
        got = {r.name: d async for r, d in c.get_many([(bucket, n) for n in objs])}
        assert (await c.head((bucket, "d3"))).size == 4
        after = cluster.stats()
        assert got == objs
        assert after.get("proxy.redirects", 0) == before.get("proxy.redirects", 0)
        assert after["target.GET"] - before.get("target.GET", 0) == 30
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


async def test_proxy_only_when_direct_reads_are_off(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "p", b"proxied")
    async with AsyncClient(cluster.endpoint, config=FAST.replace(direct_reads=False)) as c:
        for _ in range(3):
            assert await c.get((bucket, "p")) == b"proxied"
        assert c.stats.redirects == 3
        assert c._http.direct is None


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_unreachable_targets_mean_the_proxy_for_a_while(
    cluster: LocalCluster, bucket: str
) -> None:
    """A smap whose target addresses cannot be reached from here (in-cluster addresses): two
    direct attempts in a row fail, then reads go through the proxy without trying again until
    ``refresh_every`` passes."""
    cluster.put_object(bucket, "u", b"you")
    smap = msgspec.json.encode(_one_target_smap(_dead_url()))
    loads = 0

    async def load() -> bytes:
        nonlocal loads
        loads += 1
        return smap

    async with AsyncClient(cluster.endpoint, config=FAST) as c:
        d = c._http.direct = Direct(load, refresh_every=3600)
        for _ in range(6):
            assert await c.get((bucket, "u")) == b"you"
        assert c.stats.redirects == 6  # every read arrived through the proxy
        assert loads == 2  # the first read, and again after its target refused
        assert d.enabled  # not for good: the window ends, unlike after a 401/403
        assert await d.target_url("ais/@#/x") is None


async def test_a_target_404_goes_through_the_proxy_and_its_redirect_refreshes_the_smap(
    cluster: LocalCluster, bucket: str
) -> None:
    """The cached smap names a target that no longer has the object (it answers 404): the read
    goes through the proxy, whose redirect names another owner, so the smap is re-read and the
    next read goes straight to the real owner."""
    cluster.put_object(bucket, "m", b"moved")
    hits = 0

    async def gone(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.json_response({"message": "not here", "status": 404}, status=404)

    async with (
        fake_server([web.route("*", "/{tail:.*}", gone)]) as fake,
        AsyncClient(cluster.endpoint, config=FAST) as c,
    ):
        d = _direct(c)
        d.use(_one_target_smap(fake))
        assert await c.get((bucket, "m")) == b"moved"
        assert (hits, c.stats.redirects) == (1, 1)
        assert await c.get((bucket, "m")) == b"moved"
        assert (hits, c.stats.redirects, d.refreshes) == (1, 1, 1)  # the real smap, direct


async def test_a_missing_object_does_not_reload_the_smap(
    cluster: LocalCluster, bucket: str
) -> None:
    async with AsyncClient(cluster.endpoint, config=FAST) as c:
        for i in range(5):
            with pytest.raises(ObjectNotFound):
                await c.get((bucket, f"missing-{i}"))
        assert _direct(c).refreshes == 1


def test_a_newer_smap_version_in_a_redirect_marks_it_stale() -> None:
    async def load() -> bytes:
        return b""

    d = Direct(load)
    d.use(_one_target_smap("http://127.0.0.1:9"))  # version 99
    owner = URL("http://127.0.0.1:9/v1/objects/b/o")
    d.redirected("ais/@#/b/o", owner.with_query(vpams="2r"))  # 99 in base 36: same
    assert not d._stale
    d.redirected("ais/@#/b/o", owner.with_query(vpams="2s"))  # 100
    assert d._stale
    d.use(_one_target_smap("http://127.0.0.1:9"))
    d.redirected("ais/@#/b/o", URL("http://127.0.0.1:10/v1/objects/b/o"))  # another owner
    assert d._stale

"""Fault injection over real sockets: every kind, determinism, the admin route, counters."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from aisloader.server import Fault, LocalCluster

Session = aiohttp.ClientSession
N = 60


async def _status(session: Session, url: str) -> int:
    async with session.get(url) as r:
        await r.read()
        return r.status


async def _failed(c: LocalCluster, session: Session, concurrent: bool) -> set[str]:
    urls = [f"{c.endpoint}/v1/objects/b/o{i}?provider=ais" for i in range(N)]
    if concurrent:
        got = await asyncio.gather(*(_status(session, u) for u in urls))
    else:
        got = [await _status(session, u) for u in urls]
    assert set(got) <= {200, 503}
    return {u for u, s in zip(urls, got, strict=True) if s == 503}


async def test_status_fraction_is_deterministic_under_a_seed(
    acluster: LocalCluster, session: Session
) -> None:
    for i in range(N):
        acluster.put_object("b", f"o{i}", b"x")
    rule = Fault("status", fraction=0.3, hop="target")
    acluster.set_faults([rule], seed=11)
    first = await _failed(acluster, session, concurrent=False)
    acluster.set_faults([rule], seed=11)  # resets occurrence counters
    assert await _failed(acluster, session, concurrent=True) == first
    assert 5 < len(first) < 35
    acluster.set_faults([rule], seed=12)
    third = await _failed(acluster, session, concurrent=False)
    assert third != first
    assert acluster.stats()["faults.status"] == 2 * len(first) + len(third)


async def test_status_every_k_with_ais_body(acluster: LocalCluster, session: Session) -> None:
    acluster.put_object("b", "o", b"x")
    acluster.set_faults([Fault("status", every=3, status=429, hop="target")])
    url = f"{acluster.endpoint}/v1/objects/b/o"
    got = [await _status(session, url) for _ in range(6)]
    assert got == [200, 200, 429, 200, 200, 429]
    acluster.set_faults([Fault("status", every=1, status=503, hop="proxy")])
    async with session.get(url, allow_redirects=False) as r:
        err = await r.json()
        assert r.status == 503
        assert err["status"] == 503
        assert err["node"].startswith("p[")
    async with session.get(f"{acluster.target_endpoints[0]}/v1/objects/b/o") as r:
        assert r.status == 200  # hop="proxy" leaves targets alone
    stats = acluster.stats()
    assert stats["faults.status"] == 3
    assert stats["target.GET"] == 7


async def test_reset_mid_body(acluster: LocalCluster, session: Session) -> None:
    acluster.put_object("b", "big", b"r" * (1 << 20))
    acluster.set_faults([Fault("reset", every=1)])
    async with session.get(f"{acluster.endpoint}/v1/objects/b/big") as r:
        assert r.status == 200
        assert r.content_length == 1 << 20
        with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
            await r.read()
    acluster.clear_faults()
    async with session.get(f"{acluster.endpoint}/v1/objects/b/big") as r:
        assert len(await r.read()) == 1 << 20
    assert acluster.stats()["faults.reset"] == 1


@pytest.mark.parametrize("size", [10, 1 << 20])
async def test_truncate_declares_full_length(
    acluster: LocalCluster, session: Session, size: int
) -> None:
    acluster.put_object("b", "t", b"t" * size)
    acluster.set_faults([Fault("truncate", every=1, hop="target")])
    async with session.get(f"{acluster.endpoint}/v1/objects/b/t") as r:
        assert r.content_length == size
        with pytest.raises(aiohttp.ClientPayloadError, match="content length"):
            await r.read()
    assert acluster.stats()["faults.truncate"] == 1


async def test_latency_and_slow(acluster: LocalCluster, session: Session) -> None:
    data = bytes(range(256)) * 256  # 64 KiB -> 4 chunks of 16 KiB
    acluster.put_object("b", "s", data)
    url = f"{acluster.endpoint}/v1/objects/b/s"
    acluster.set_faults([Fault("latency", every=1, delay=0.2, hop="proxy")])
    t0 = time.monotonic()
    assert await _status(session, url) == 200
    assert time.monotonic() - t0 >= 0.2
    acluster.set_faults([Fault("slow", every=1, delay=0.1)])
    t0 = time.monotonic()
    async with session.get(url) as r:
        got = await r.read()
    assert got == data
    assert time.monotonic() - t0 >= 0.3
    stats = acluster.stats()
    assert stats["faults.latency"] == 1
    assert stats["faults.slow"] == 1


async def test_admin_route(acluster: LocalCluster, session: Session) -> None:
    acluster.put_object("b", "o", b"x")
    admin = f"{acluster.endpoint}/v1/_emu/faults"
    rules = {"seed": 7, "faults": [{"kind": "status", "every": 2, "status": 503}]}
    async with session.put(admin, json=rules) as r:
        assert r.status == 200
        assert (await r.json())["seed"] == 7
    url = f"{acluster.endpoint}/v1/objects/b/o"
    # hop="any" counts at both hops: proxy #1, target #2 (fault), proxy #3, target #4 (fault)
    assert [await _status(session, url) for _ in range(2)] == [503, 503]
    async with session.get(admin) as r:
        snap = await r.json()
    assert snap["faults"][0]["kind"] == "status"
    assert snap["injected"] == [2]
    assert snap["matched"] == [4]
    async with session.put(admin, json={"faults": [{"kind": "nope"}]}) as r:
        assert r.status == 400
    async with session.delete(admin) as r:
        assert (await r.json())["faults"] == []
    assert [await _status(session, url) for _ in range(2)] == [200, 200]


async def test_serves_300_concurrent_connections(acluster: LocalCluster) -> None:
    acluster.put_object("b", "o", b"x")
    acluster.set_faults([Fault("latency", every=1, delay=0.5, hop="target")])
    url = f"{acluster.target_endpoints[0]}/v1/objects/b/o"
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as s:
        t0 = time.monotonic()
        got = await asyncio.gather(*(_status(s, url) for _ in range(300)))
        elapsed = time.monotonic() - t0
    assert got == [200] * 300
    assert elapsed < 5.0  # all 300 held open at once; one at a time would take 150 s
    assert acluster.stats()["faults.latency"] == 300

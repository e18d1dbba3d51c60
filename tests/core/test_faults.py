"""Fault storms: every object comes back with the right bytes, or a typed error in budget."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator

import pytest
from _shared import FAST, put_objects, tar_of

from aisloader.config import ClientConfig
from aisloader.core.client import AsyncClient
from aisloader.errors import IncompleteRead, ServiceUnavailable, Throttled, TransportError
from aisloader.server import Fault, LocalCluster


def _pfx(bucket: str) -> str:
    return f"/v1/objects/{bucket}/"


async def test_503_storm_both_hops(client: AsyncClient, cluster: LocalCluster, bucket: str) -> None:
    objs = put_objects(cluster, bucket, 500, size=1024)
    cluster.set_faults(
        [
            Fault(kind="status", status=503, fraction=0.15, hop="proxy", path_prefix=_pfx(bucket)),
            Fault(kind="status", status=503, fraction=0.15, hop="target", path_prefix=_pfx(bucket)),
        ],
        seed=1,
    )
    got = {r.name: d async for r, d in client.get_many([(bucket, n) for n in objs])}
    assert got == objs
    assert client.stats.retries > 20
    assert client.stats.errors.get("ServiceUnavailable", 0) == client.stats.retries


async def test_429_and_latency(client: AsyncClient, cluster: LocalCluster, bucket: str) -> None:
    objs = put_objects(cluster, bucket, 60, size=512)
    cluster.set_faults(
        [
            Fault(kind="status", status=429, fraction=0.15, hop="any", path_prefix=_pfx(bucket)),
            Fault(kind="latency", delay=0.01, fraction=0.3, hop="any", path_prefix=_pfx(bucket)),
        ],
        seed=2,
    )
    got = {r.name: d async for r, d in client.get_many([(bucket, n) for n in objs], window=8)}
    assert got == objs
    assert client.stats.retries > 0


@pytest.mark.parametrize("kind", ["reset", "truncate"])
async def test_body_cut_short(
    client: AsyncClient, cluster: LocalCluster, bucket: str, kind: str
) -> None:
    objs = put_objects(cluster, bucket, 30, size=3 << 20)  # bodies large enough to be cut mid-way
    cluster.set_faults(
        [Fault(kind=kind, fraction=0.25, hop="target", path_prefix=_pfx(bucket))],  # type: ignore[arg-type]
        seed=3,
    )
    before = cluster.stats()[f"faults.{kind}"]
    got = {r.name: d async for r, d in client.get_many([(bucket, n) for n in objs], window=4)}
    assert got == objs
    assert client.stats.retries > 0
    assert cluster.stats()[f"faults.{kind}"] > before


async def test_stream_resumes_without_dup_or_loss(cluster: LocalCluster, bucket: str) -> None:
    data = bytes(range(256)) * 16_384  # 4 MiB
    cluster.put_object(bucket, "s", data)
    cluster.set_faults(
        [Fault(kind="reset", fraction=0.5, hop="target", path_prefix=_pfx(bucket))], seed=4
    )
    cfg = FAST.replace(chunk_size=100_000, retry_attempts=30)
    async with AsyncClient(cluster.endpoint, config=cfg) as c:
        for _ in range(3):
            out = bytearray()
            async for chunk in c.get_stream((bucket, "s")):
                out += chunk
            assert out == data
            assert await c.get((bucket, "s"), byte_range=(1000, 3_000_000)) == data[1000:3_000_000]
        assert c.stats.retries > 0


async def test_archpath_restart_skips_delivered(
    client: AsyncClient, cluster: LocalCluster, bucket: str
) -> None:
    member = bytes(range(256)) * 12_000
    cluster.put_object(bucket, "a.tar", tar_of({"m.bin": member}))
    cluster.set_faults(
        [Fault(kind="truncate", fraction=0.5, hop="target", path_prefix=_pfx(bucket))], seed=5
    )
    for _ in range(3):
        assert await client.get((bucket, "a.tar"), archpath="m.bin") == member


async def test_budget_spent_gives_typed_errors(cluster: LocalCluster, bucket: str) -> None:
    cluster.put_object(bucket, "x", b"x" * 10)
    cfg = FAST.replace(retry_attempts=3)
    pfx = _pfx(bucket)
    cases: list[tuple[Fault, type[Exception]]] = [
        (Fault(kind="status", status=503, fraction=1.0, path_prefix=pfx), ServiceUnavailable),
        (Fault(kind="status", status=429, fraction=1.0, path_prefix=pfx), Throttled),
    ]
    for fault, cls in cases:
        cluster.set_faults([fault])
        async with AsyncClient(cluster.endpoint, config=cfg) as c:
            with pytest.raises(cls, match=f"ais://{bucket}/x") as info:
                await c.get((bucket, "x"))
            assert c.stats.errors == {cls.__name__: 3}  # 3 attempts, each refused once
            assert c.stats.retries == 2
            assert "gave up after 3" in "".join(info.value.__notes__)
    cluster.put_object(bucket, "big", b"y" * (2 << 20))
    cluster.set_faults([Fault(kind="truncate", fraction=1.0, hop="target", path_prefix=pfx)])
    async with AsyncClient(cluster.endpoint, config=cfg) as c:
        with pytest.raises((IncompleteRead, TransportError), match=f"ais://{bucket}/big"):
            await c.get((bucket, "big"))


async def test_connection_refused_is_transport_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = FAST.replace(retry_attempts=2, token="tok-SECRET")
    async with AsyncClient(f"http://127.0.0.1:{port}", config=cfg) as c:
        with pytest.raises(TransportError, match="ais://b/o") as info:
            await c.get(("b", "o"))
    assert info.value.attempts == 2
    assert "SECRET" not in str(info.value)


async def test_put_retries_resend_whole_body(
    client: AsyncClient, cluster: LocalCluster, bucket: str
) -> None:
    import io

    data = hashlib.sha256(b"put").digest() * 40_000  # 1.25 MiB
    cluster.set_faults(
        [
            Fault(
                kind="status",
                status=503,
                fraction=0.4,
                hop="any",
                methods=("PUT",),
                path_prefix=_pfx(bucket),
            ),
        ],
        seed=6,
    )
    for i in range(8):
        f = io.BytesIO(data)
        await client.put((bucket, f"p{i}"), f)
        await client.put((bucket, f"q{i}"), data)
    cluster.clear_faults()
    for i in range(8):
        assert await client.get((bucket, f"p{i}")) == data
        assert await client.get((bucket, f"q{i}")) == data
    assert client.stats.retries > 0


async def test_put_async_iterable_not_retried_after_body(
    client: AsyncClient, cluster: LocalCluster, bucket: str
) -> None:
    cluster.set_faults(
        [
            Fault(
                kind="status",
                status=503,
                fraction=1.0,
                hop="target",
                methods=("PUT",),
                path_prefix=_pfx(bucket),
            )
        ]
    )

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 1000

    with pytest.raises((ServiceUnavailable, TransportError)) as info:
        await client.put((bucket, "once"), body())
    assert "not retried" in "".join(getattr(info.value, "__notes__", []))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_nothing_listening_is_reported_at_once() -> None:
    """A refused endpoint is said plainly after a short grace, not retried for the budget."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    config = ClientConfig(retry_attempts=1000, retry_budget=600.0, backoff_cap=0.2)
    async with AsyncClient(endpoint, config=config) as client:
        with pytest.raises(TransportError, match=f"nothing is listening at {endpoint}") as info:
            await client.get("ais://b/o")
    assert "AIS_ENDPOINT" in str(info.value)
    assert 2 <= client.stats.requests < 60  # retried for about a second, not 1000 attempts

"""A connection cut after the server answered is retried once without a backoff; 429/5xx and
every later retry back off. Asserted on the sleeps asked for, never on the clock."""

from __future__ import annotations

import asyncio
import errno

import aiohttp
import pytest
from _shared import put_objects

from aisloader.config import ClientConfig
from aisloader.core.client import AsyncClient
from aisloader.core.http import retry
from aisloader.core.http.netfail import cut_short
from aisloader.core.http.retry import Attempts, RetryPolicy, Stats
from aisloader.errors import IncompleteRead, ServiceUnavailable
from aisloader.server import Fault, LocalCluster


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the retry loop sleeps (the sleeps themselves return at once); the jitter
    is fixed at half the ceiling."""
    asked: list[float] = []
    real = asyncio.sleep

    async def record(delay: float, *args: object) -> None:
        asked.append(delay)
        await real(0)

    monkeypatch.setattr(retry.asyncio, "sleep", record)
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, n: 0.5 * self.ceiling(n))
    return asked


async def test_first_cut_at_once_then_backoff(sleeps: list[float]) -> None:
    attempts = Attempts(RetryPolicy(base=1.0, cap=8.0), Stats())
    cut = IncompleteRead("cut")
    await attempts.again(cut, at_once=True)
    await attempts.again(cut, at_once=True)
    await attempts.again(ServiceUnavailable(503, "", "x", "busy"))
    assert sleeps == [0.0, 1.0, 2.0]  # retry 2: 0.5 x 2 s; retry 3: 0.5 x 4 s
    assert attempts.number == 4


async def test_status_retries_always_back_off(sleeps: list[float]) -> None:
    attempts = Attempts(RetryPolicy(base=1.0, cap=8.0), Stats())
    await attempts.again(ServiceUnavailable(503, "", "x", "busy"))
    await attempts.again(IncompleteRead("cut"), at_once=True)  # the quick one is still unused
    assert sleeps == [0.5, 0.0]


def test_what_counts_as_cut_short() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None)
    assert cut_short(aiohttp.ClientPayloadError("payload not completed"))
    assert cut_short(aiohttp.ServerDisconnectedError())
    assert cut_short(ConnectionResetError())
    assert cut_short(aiohttp.ClientOSError(errno.ECONNRESET, "reset"))
    assert not cut_short(aiohttp.ClientConnectorError(key, OSError(errno.ECONNREFUSED, "no")))
    assert not cut_short(aiohttp.ServerTimeoutError("read timed out"))
    assert not cut_short(TimeoutError())


@pytest.mark.parametrize("kind", ["reset", "truncate"])
async def test_cut_body_resumes_without_sleeping(
    cluster: LocalCluster, bucket: str, kind: str, sleeps: list[float]
) -> None:
    """Every second answer for the object is cut (direct from its target): the first read is
    whole, the second is cut once and its one re-read asks for no backoff; the bytes are
    whole both times."""
    objs = put_objects(cluster, bucket, 1, size=3 << 20)
    ((name, data),) = objs.items()
    cluster.set_faults(
        [Fault(kind=kind, every=2, hop="target", path_prefix=f"/v1/objects/{bucket}/")]  # type: ignore[arg-type]
    )
    config = ClientConfig(backoff_base=5.0, backoff_cap=5.0)
    async with AsyncClient(cluster.endpoint, config=config) as client:
        before = cluster.stats()[f"faults.{kind}"]
        assert await client.get((bucket, name)) == data
        assert await client.get((bucket, name)) == data
        assert cluster.stats()[f"faults.{kind}"] == before + 1
        assert client.stats.retries == 1
    assert sleeps == [0.0]

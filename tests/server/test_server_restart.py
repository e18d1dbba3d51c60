"""Targets restart while clients read (AIS's own resilience test): every object still arrives,
byte-exact, through the client's retries; `stop_target` also cuts answers in progress.

Each test has its own cluster (a restart would disturb the module's). Steps are ordered by
counters (reads served, retries seen), never by time; timeouts only guard against hangs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import aiohttp
import pytest
from _shared import FAST, put_objects

from aisloader.bridge.client import Client
from aisloader.core.client import AsyncClient
from aisloader.core.http.retry import Stats
from aisloader.server import Fault, LocalCluster

pytestmark = pytest.mark.timeout(60)

N = 300
WINDOW = 16
HANG = 20.0
"""Seconds any single wait may take before the test calls it a hang."""
PATIENT = FAST.replace(retry_attempts=100_000, retry_budget=HANG)
"""Short backoffs, but retries that outlast a restart however slow the machine is."""


def _target_gets(cluster: LocalCluster) -> int:
    return cluster.stats().get("target.GET", 0)


def _wait_for(what: str, ready: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(HANG / 0.005)):
        if ready():
            return
        done.wait(0.005)
    raise AssertionError(f"hang: never {what}")


class Restarter:
    """From its own thread: once ``after`` target GETs were served, stop target ``victim``;
    once the client has retried, start it again."""

    def __init__(self, cluster: LocalCluster, stats: Stats, after: int, victim: int = 0) -> None:
        self.cluster, self.stats, self.after, self.victim = cluster, stats, after, victim
        self.stopped = threading.Event()
        self.events: list[str] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-restarter", daemon=True)

    def _run(self) -> None:
        try:
            _wait_for("reads served", lambda: _target_gets(self.cluster) >= self.after)
            self.events.append(f"stopping after {self.stats.retries} retries")
            self.cluster.stop_target(self.victim)
            self.events.append("stopped")
            self.stopped.set()
            _wait_for("a retry against the stopped target", lambda: self.stats.retries > 0)
            self.cluster.start_target(self.victim)
            self.events.append("started")
        except BaseException as e:
            self.error = e
            self.stopped.set()

    @contextmanager
    def running(self) -> Iterator[Restarter]:
        self._thread.start()
        try:
            yield self
        finally:
            self._thread.join(HANG)
        assert not self._thread.is_alive(), "the restarter hung"
        if self.error is not None:
            raise self.error
        assert self.events == ["stopping after 0 retries", "stopped", "started"]


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A fresh cluster (proxy + 2 targets) for this test alone."""
    with LocalCluster(targets=2) as c:
        yield c


def test_blocking_get_many_reads_through_a_target_restart(cluster: LocalCluster) -> None:
    expected = put_objects(cluster, "restart", N)
    got: dict[str, bytes] = {}
    with Client(cluster.endpoint, config=PATIENT) as client:
        restarter = Restarter(cluster, client.stats, after=N // 3)
        with restarter.running():
            refs = [("restart", name) for name in expected]
            for i, (ref, data) in enumerate(client.get_many(refs, window=WINDOW)):
                got[ref.name] = data
                if i == N // 3:  # read on only once the target is down
                    assert restarter.stopped.wait(HANG)
        stats = client.stats
    assert list(got) == list(expected)  # in order, each once
    assert got == expected  # byte-exact
    assert stats.retries > 0
    assert stats.errors.get("TransportError", 0) > 0


async def test_async_get_many_reads_through_a_target_restart(cluster: LocalCluster) -> None:
    expected = put_objects(cluster, "restart", N)
    got: dict[str, bytes] = {}
    async with AsyncClient(cluster.endpoint, config=PATIENT) as client:
        restarter = Restarter(cluster, client.stats, after=N // 3, victim=1)
        with restarter.running():
            refs = [("restart", name) for name in expected]
            i = 0
            async for ref, data in client.get_many(refs, window=WINDOW):
                got[ref.name] = data
                if i == N // 3:
                    assert await asyncio.to_thread(restarter.stopped.wait, HANG)
                i += 1
        stats = client.stats
    assert got == expected
    assert list(got) == list(expected)
    assert stats.retries > 0
    assert stats.errors.get("TransportError", 0) > 0


async def test_stop_target_cuts_an_answer_in_progress(cluster: LocalCluster) -> None:
    """A GET held in the target (a long latency fault) when the target stops fails as a
    network error, is retried, and is answered once the target is back."""
    expected = put_objects(cluster, "restart", 1)
    name = next(iter(expected))
    owner = await _owner(cluster, "restart", name)
    cluster.set_faults([Fault("latency", every=1, delay=HANG, hop="target")])
    async with AsyncClient(cluster.endpoint, config=PATIENT) as client:
        before = _target_gets(cluster)
        read = asyncio.create_task(client.get(("restart", name)))
        await asyncio.to_thread(
            _wait_for, "the GET at a target", lambda: _target_gets(cluster) > before
        )
        assert not read.done()
        await asyncio.to_thread(cluster.stop_target, owner)
        cluster.clear_faults()
        await asyncio.to_thread(_wait_for, "a retry", lambda: client.stats.retries > 0)
        await asyncio.to_thread(cluster.start_target, owner)
        async with asyncio.timeout(HANG):
            data = await read
    assert data == expected[name]
    assert client.stats.errors.get("TransportError", 0) >= 1


async def _owner(cluster: LocalCluster, bucket: str, name: str) -> int:
    """Index of the target the proxy redirects a GET of ``name`` to."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{cluster.endpoint}/v1/objects/{bucket}/{name}", allow_redirects=False) as r,
    ):
        location = r.headers["Location"]
    return next(i for i, url in enumerate(cluster.target_endpoints) if location.startswith(url))


def test_stop_and_start_refuse_misuse(cluster: LocalCluster) -> None:
    with pytest.raises(IndexError, match="no target 2"):
        cluster.stop_target(2)
    with pytest.raises(RuntimeError, match="not stopped"):
        cluster.start_target(0)
    cluster.stop_target(0)
    with pytest.raises(RuntimeError, match="already stopped"):
        cluster.stop_target(0)
    cluster.start_target(0)
    put_objects(cluster, "restart", 40)
    with Client(cluster.endpoint, config=PATIENT) as client:
        assert len(dict(client.get_many([("restart", f"o/{i:05d}") for i in range(40)]))) == 40
        assert client.stats.retries == 0  # back on the same port: no client had to notice
    cluster.stop_target(1)
    cluster.stop()  # with a target down
    with pytest.raises(RuntimeError, match="not started"):
        cluster.start_target(1)

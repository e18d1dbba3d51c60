"""Helpers shared by the test packages (``tests/`` is on ``sys.path`` under pytest).

Also imported by DataLoader workers of every start method (through ``tests/torch/torchds_util``),
so nothing here imports torch or starts anything at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import tarfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from yarl import URL

from aisloader.config import ClientConfig
from aisloader.errors import SampleError
from aisloader.server import LocalCluster

if TYPE_CHECKING:
    import pytest
    from torch.utils.data import DataLoader

FAST = ClientConfig(backoff_base=0.002, backoff_cap=0.02, retry_budget=30.0, read_timeout=10.0)
"""Default retry attempts, but short backoffs so fault storms stay fast."""


AIS_ENV = (
    *("AIS_ENDPOINT", "AIS_CLIENT_CA", "AIS_CRT", "AIS_CRT_KEY", "AIS_AUTHN_TOKEN"),
    *("AIS_AUTHN_TOKEN_FILE", "AIS_SKIP_VERIFY_CRT", "AIS_SKIP_VERIFY"),
    *("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),  # requests prefers them to the SDK's ca_cert
)
"""Every variable that points a client at a cluster or gives it credentials."""


def client_env_of(cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the environment at ``cluster`` alone: every `AIS_ENV` variable cleared (``HOME``
    too, so no default token file is read), then `LocalCluster.client_env` set; returned."""
    for name in AIS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-home")
    values = cluster.client_env()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def blob(i: int, size: int = 700) -> bytes:
    """Unique, non-trivial bytes for object ``i``: ``size`` bytes plus ``i % 517`` (so sizes
    vary across the 512-byte tar block boundaries)."""
    head, n = f"obj-{i:05d}:".encode(), size + i % 517
    return (head * (n // len(head) + 1))[:n]


def put_objects(
    cluster: LocalCluster, bucket: str, n: int, prefix: str = "o/", size: int = 700
) -> dict[str, bytes]:
    """Put ``n`` objects ``{prefix}{i:05d}`` holding ``blob(i, size)``; return name → bytes
    (in name order)."""
    out = {f"{prefix}{i:05d}": blob(i, size) for i in range(n)}
    for name, data in out.items():
        cluster.put_object(bucket, name, data)
    return out


def tar_of(
    members: Mapping[str, bytes] | Iterable[tuple[str, bytes]],
    *,
    gz: bool = False,
    fmt: int = tarfile.PAX_FORMAT,
) -> bytes:
    """A tar (gzip-compressed when ``gz``) of the ``(name, data)`` members, in order."""
    pairs = members.items() if isinstance(members, Mapping) else members
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=fmt) as tar:
        for name, data in pairs:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def keep(batch: list[Any]) -> list[Any]:
    """DataLoader collate that keeps the samples of a batch as they are."""
    return batch


def data_loader(
    dataset: Any, workers: int = 0, method: str | None = None, **kw: Any
) -> DataLoader[Any]:
    """A DataLoader with ``workers`` workers started by ``method`` that keeps batches as lists
    (torch is imported here, on first use, not by this module)."""
    from torch.utils.data import DataLoader

    context = method if workers else None
    return DataLoader(
        dataset, num_workers=workers, multiprocessing_context=context, collate_fn=keep, **kw
    )


def load(dataset: Any, workers: int = 0, method: str | None = None, **kw: Any) -> list[Any]:
    """Every sample of one pass through a `data_loader` (batches flattened; batches of 7 unless
    ``batch_size`` or ``batch_sampler`` is given)."""
    if "batch_sampler" not in kw:
        kw.setdefault("batch_size", 7)
    return [sample for batch in data_loader(dataset, workers, method, **kw) for sample in batch]


def batches_then_error(
    dataset: Any, workers: int = 0, method: str | None = None, **kw: Any
) -> tuple[list[list[Any]], Exception]:
    """The batches one pass delivered before its error, and the error, detached from the
    DataLoader's frames.

    The DataLoader iterator is released before returning: a traceback that keeps it alive
    delays its worker shutdown (torch joins each worker with a 5 s timeout then).
    """
    if "batch_sampler" not in kw:
        kw.setdefault("batch_size", 4)
    batches: list[list[Any]] = []
    it = iter(data_loader(dataset, workers, method, **kw))
    try:
        for batch in it:
            batches.append(batch)
    except Exception as exc:
        return batches, exc.with_traceback(None)
    finally:
        del it
    raise AssertionError("the pass ended without an error")


def until_error(fn: Callable[[], Iterable[Any]]) -> tuple[list[Any], bool]:
    """Items ``fn()`` produced until its end or a format error, and whether it ended in one."""
    out: list[Any] = []
    try:
        out.extend(fn())
    except (ValueError, SampleError):
        return out, True
    return out, False


@asynccontextmanager
async def fake_server(routes: list[web.RouteDef]) -> AsyncIterator[str]:
    """A throwaway aiohttp server on loopback (for answer shapes the cluster cannot produce)."""
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


_HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class Overlap:
    """A loopback forwarder in front of a cluster's proxy that counts how many requests under
    ``prefix`` it serves at once (``peak``), on its own loop thread (sync tests can use it).

    Each such request is held until ``release_at`` of them are open, or for ``hold`` seconds:
    requests a client sends together are all seen open together however slow the machine is,
    and a request sent alone stays open long enough for a wrong overlap to show. Then it goes
    on to ``upstream`` as it came, like every other request; answers (redirects included: the
    client follows them to the targets directly) come back as they are.
    """

    def __init__(self, upstream: str, prefix: str, *, release_at: int, hold: float) -> None:
        self.upstream, self.prefix = upstream.rstrip("/"), prefix
        self.release_at, self.hold = release_at, hold
        self.endpoint = ""
        self.peak = self.served = 0
        self._open = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    def __enter__(self) -> Overlap:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop, self._full = asyncio.Event(), asyncio.Event()
        try:
            async with (
                aiohttp.ClientSession(auto_decompress=False) as self._session,
                fake_server([web.route("*", "/{tail:.*}", self._forward)]) as self.endpoint,
            ):
                self._ready.set()
                await self._stop.wait()
        except BaseException as e:
            self._error = e
            raise
        finally:
            self._ready.set()

    async def _forward(self, request: web.Request) -> web.Response:
        counted = request.path.startswith(self.prefix)
        if counted:
            await self._enter()
        try:
            return await self._pass_on(request)
        finally:
            if counted:
                self._open -= 1

    async def _enter(self) -> None:
        self._open += 1
        self.served += 1
        self.peak = max(self.peak, self._open)
        if self._open >= self.release_at:
            self._full.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.hold):
                await self._full.wait()

    async def _pass_on(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        url = URL(self.upstream + request.raw_path, encoded=True)
        body = await request.read()
        async with self._session.request(
            request.method, url, headers=headers, data=body, allow_redirects=False
        ) as resp:
            data = await resp.read()
            back = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(status=resp.status, headers=back, body=data)


class Hang(BaseException):
    """An example ran past its alarm (a BaseException: no ``except Exception`` swallows it)."""


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this thread after ``seconds``; pytest-timeout's own SIGALRM
    timer is put back afterwards with what was left of it."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s")

    handler = signal.signal(signal.SIGALRM, expired)
    delay, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, handler)
        if delay:
            left = max(delay - (time.monotonic() - start), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)

"""The sync bridge: Client, runtime.call/iterate, fork hooks, start methods, cleanup."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from _shared import FAST

from aisloader.bridge import runtime
from aisloader.bridge.client import Client
from aisloader.bridge.iterate import iterate
from aisloader.core.client import AsyncClient
from aisloader.errors import ObjectNotFound
from aisloader.server import LocalCluster

from . import _children


@pytest.fixture
def objects(cluster: LocalCluster, bucket: str) -> dict[str, bytes]:
    objs = {f"b{i:03d}": os.urandom(100 + i) for i in range(20)}
    for n, d in objs.items():
        cluster.put_object(bucket, n, d)
    return objs


def test_client_mirrors_async(
    cluster: LocalCluster, bucket: str, objects: dict[str, bytes]
) -> None:
    with Client(cluster.endpoint, config=FAST) as c:
        assert c.get((bucket, "b000")) == objects["b000"]
        assert [e.name for e in c.list_objects(bucket, page_size=3)] == sorted(objects)
        assert dict((r.name, d) for r, d in c.get_many([(bucket, n) for n in objects])) == objects
        assert b"".join(c.get_stream((bucket, "b001"))) == objects["b001"]
        buf = bytearray(200)
        assert c.get_into((bucket, "b002"), buf) == 102
        c.put((bucket, "new"), b"fresh")
        assert c.head((bucket, "new")).size == 5
        c.delete((bucket, "new"))
        with pytest.raises(ObjectNotFound):
            c.get((bucket, "new"))
        assert any(b.name == bucket for b in c.list_buckets())
        assert c.stats.requests > 0
    c2 = pickle.loads(pickle.dumps(c))
    assert (c2.endpoint, c2.config) == (c.endpoint, c.config)
    assert set(c.__getstate__()) == {"endpoint", "config"}


def test_call_from_loop_thread_refused() -> None:
    async def inner() -> int:
        return 1

    async def outer() -> int:
        return runtime.call(inner)

    with pytest.raises(RuntimeError, match="own event-loop thread"):
        runtime.call(outer)

    async def outer_iter() -> object:
        return iterate(_count_forever, 4)

    with pytest.raises(RuntimeError, match="own event-loop thread"):
        runtime.call(outer_iter)


class _Probe:
    started = 0
    finished = 0


async def _count_forever() -> AsyncIterator[int]:
    _Probe.started += 1
    try:
        i = 0
        while True:
            yield i
            i += 1
    finally:
        _Probe.finished += 1


def test_early_break_cancels_producer() -> None:
    _Probe.started = _Probe.finished = 0
    baseline = runtime.call(_pending_tasks)  # the portal's own task
    it = iterate(_count_forever, 8)
    assert [next(it) for _ in range(100)] == list(range(100))
    it.close()
    assert _Probe.finished == 1
    for i in iterate(_count_forever, 8):
        if i == 5:
            break
    gc.collect()
    assert (_Probe.started, _Probe.finished) == (2, 2)
    gen = iterate(_count_forever, 8)
    next(gen)
    del gen
    gc.collect()
    assert _Probe.finished == 3
    assert runtime.call(_pending_tasks) == baseline


async def _pending_tasks() -> int:
    await asyncio.sleep(0)
    return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])


def test_iterate_propagates_errors_and_bounds_queue() -> None:
    async def boom() -> AsyncIterator[int]:
        yield 1
        raise KeyError("late")

    it = iterate(boom, 1)
    assert next(it) == 1
    with pytest.raises(KeyError, match="late"):
        next(it)
    produced = 0

    async def counting() -> AsyncIterator[int]:
        nonlocal produced
        for i in range(1000):
            produced += 1
            yield i

    it2 = iterate(counting, 4)
    next(it2)
    runtime.call(asyncio.sleep, 0.05)  # give the producer every chance to run ahead
    assert produced <= 4 + 64 + 2  # bounded by the queue plus one batch in hand
    it2.close()
    with pytest.raises(ValueError, match="max_queue"):
        iterate(counting, 0)


def test_per_process_same_object() -> None:
    a = runtime.per_process("test-key", object)
    assert runtime.per_process("test-key", object) is a
    assert runtime.discard("test-key") is a


def _fork_child(endpoint: str, bucket: str, names: list[str], conn: object) -> None:
    c = Client(endpoint, config=FAST)
    conn.send(_children.read_digests(c, bucket, names))  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_client_in_children(
    method: str, cluster: LocalCluster, bucket: str, objects: dict[str, bytes]
) -> None:
    names = sorted(objects)[:5]
    client = Client(cluster.endpoint, config=FAST)
    client.get((bucket, names[0]))  # the parent's runtime and session exist before the fork
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        futs = [pool.submit(_children.read_digests, client, bucket, names) for _ in range(2)]
        results = [f.result(timeout=60) for f in futs]
    want = [hashlib.sha256(objects[n]).hexdigest() for n in names] * 2
    assert results == [want, want]
    assert client.get((bucket, names[1])) == objects[names[1]]  # parent still fine
    client.close()


def test_fork_while_runtime_lock_held(
    cluster: LocalCluster, bucket: str, objects: dict[str, bytes]
) -> None:
    runtime.call(asyncio.sleep, 0)  # make sure the parent's loop thread exists
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with runtime._lock:
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    try:
        ctx = multiprocessing.get_context("fork")
        parent_conn, child_conn = ctx.Pipe()
        p = ctx.Process(target=_fork_child, args=(cluster.endpoint, bucket, ["b000"], child_conn))
        p.start()
        assert parent_conn.poll(60), "child hung: the fork hook did not reset the lock"
        got = parent_conn.recv()
        p.join(30)
    finally:
        release.set()
        t.join()
    assert got == [hashlib.sha256(objects["b000"]).hexdigest()] * 2
    assert p.exitcode == 0


_CYCLES = r"""
import os, sys, threading, warnings
warnings.simplefilter("error", ResourceWarning)
from aisloader import Client
ep, bucket = sys.argv[1], sys.argv[2]
def fds(): return len(os.listdir("/proc/self/fd"))
with Client(ep) as c:
    c.get((bucket, "b000"))
base = (threading.active_count(), fds())
for _ in range(1000):
    with Client(ep) as c:
        c.get((bucket, "b000"))
closed = (threading.active_count(), fds())
for _ in range(300):  # never closed: a dropped Client releases its session (4 fds each before)
    Client(ep).get((bucket, "b000"))
print(base, closed, (threading.active_count(), fds()))
"""


def test_thousand_create_close_cycles(
    cluster: LocalCluster, bucket: str, objects: dict[str, bytes]
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CYCLES, cluster.endpoint, bucket],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    assert "Unclosed" not in out.stderr, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    base, *ends = (eval(part + ")") for part in out.stdout.strip()[:-1].split(") "))
    for end in ends:  # after 1000 closed clients, then after 300 more never closed
        assert end[0] == base[0], out.stdout  # no thread growth
        assert end[1] - base[1] <= 4, out.stdout  # no fd growth


def test_async_client_repr_and_shutdown_closes(cluster: LocalCluster) -> None:
    made = runtime.per_process("shutdown-probe", lambda: AsyncClient(cluster.endpoint))
    assert "AsyncClient(" in repr(made)
    runtime.discard("shutdown-probe")


def test_ctrl_c_interrupts_call_and_cancels_task() -> None:
    events: list[str] = []

    async def long() -> None:
        events.append("started")
        try:
            await asyncio.sleep(30)
            events.append("finished")
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runtime.call(long)
        at_interrupt = list(events)
    finally:
        timer.cancel()
    runtime.call(asyncio.sleep, 0.05)
    assert "finished" not in at_interrupt  # the call gave up on the task: it did not wait it out
    assert events == ["started", "cancelled"]


def test_close_returns_after_the_producer_cleanup_ran() -> None:
    import asyncio
    import threading

    cleaned = threading.Event()

    async def source() -> AsyncIterator[int]:
        try:
            for i in range(10_000):
                await asyncio.sleep(0.001)
                yield i
        finally:
            await asyncio.sleep(0.05)  # slow cleanup, e.g. closing connections
            cleaned.set()

    items = iterate(source, max_queue=4)
    assert next(items) == 0
    items.close()
    assert cleaned.is_set()


def test_a_forked_child_collecting_an_inherited_stream_does_not_hang(
    cluster: LocalCluster, bucket: str
) -> None:
    """A bridged iterator left in a garbage cycle when the process forks: the child's
    collector closes it, and must not wait on the parent's loop thread (absent in the child).
    """
    cluster.put_object(bucket, "big", b"x" * (4 << 20))
    gc.disable()
    try:
        with Client(cluster.endpoint, config=FAST.replace(chunk_size=1 << 16)) as c:
            stream = c.get_stream((bucket, "big"))
            assert next(stream)
            cycle: list[object] = [stream]
            cycle.append(cycle)
            del stream, cycle
            pid = os.fork()
            if pid == 0:  # the child: collect, then leave at once (no cleanup of the parent's)
                gc.collect()
                os._exit(0)
            deadline = 200  # x 0.05 s
            while deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
                threading.Event().wait(0.05)
                deadline -= 1
            if not deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            assert deadline, "the child hung collecting the inherited stream"
    finally:
        gc.enable()
        gc.collect()

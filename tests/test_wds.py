"""webdataset over ``ais://`` through aisloader (``aisloader.wds``), webdataset itself the oracle.

Every test reads shards from the embedded cluster with ``webdataset.WebDataset`` and compares
with what webdataset reads from the same shards as local files.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import webdataset as wds
from _shared import FAST, blob, tar_of
from torch.utils.data import DataLoader

import aisloader.wds
from aisloader.bridge.client import Client
from aisloader.errors import ConfigError, ObjectNotFound
from aisloader.server import Fault, LocalCluster

SHARDS = 4
Sample = dict[str, Any]


def _members(s: int, size: int) -> list[tuple[str, bytes]]:
    """Shard ``s`` in WebDataset layout, with the key rules' corner cases: directories kept in
    keys, multi-dot and upper-case suffixes, an empty member, a skipped ``__meta__`` file, sizes
    across tar block boundaries."""
    out: list[tuple[str, bytes]] = [("__meta__", b"{}"), ("__meta__.json", b"{}")]
    for i in range(8):
        key = f"d{i % 2}/s{s}-{i:02d}"
        n = s * 8 + i
        out += [(f"{key}.jpg", blob(n, size)), (f"{key}.seg.PNG", blob(n + 99, size // 3))]
        out.append((f"{key}.cls", b"" if i == 3 else b"%d" % n))
    return out


@pytest.fixture
def gopen_table() -> Iterator[dict[str, Any]]:
    """webdataset's scheme table, restored after the test (registration is process-global)."""
    table: dict[str, Any] = importlib.import_module("webdataset.gopen").gopen_schemes
    saved = dict(table)
    yield table
    table.clear()
    table.update(saved)


def _put_shards(
    cluster: LocalCluster, bucket: str, tmp: Path, size: int = 700
) -> tuple[str, list[str]]:
    """The shards on the cluster and in ``tmp``: (brace URL on the cluster, local paths)."""
    paths = []
    for s in range(SHARDS):
        data = tar_of(_members(s, size))
        cluster.put_object(bucket, f"shard-{s:03d}.tar", data)
        (tmp / f"shard-{s:03d}.tar").write_bytes(data)
        paths.append(str(tmp / f"shard-{s:03d}.tar"))
    return f"ais://{bucket}/shard-{{000..{SHARDS - 1:03d}}}.tar", paths


def _plain(samples: Iterable[Sample]) -> list[Sample]:
    """Samples without their source fields (a local file also gets ``__local_path__``)."""
    return [{k: v for k, v in s.items() if k not in ("__url__", "__local_path__")} for s in samples]


def _oracle(paths: list[str], **kw: Any) -> list[Sample]:
    return _plain(wds.WebDataset(paths, shardshuffle=False, **kw))


def _by_key(samples: Iterable[Sample]) -> list[Sample]:
    return sorted(samples, key=lambda s: s["__key__"])


def test_reads_what_webdataset_reads_from_files(
    cluster: LocalCluster, bucket: str, tmp_path: Path, gopen_table: dict[str, Any]
) -> None:
    url, paths = _put_shards(cluster, bucket, tmp_path)
    opener = aisloader.wds.register(cluster.endpoint, FAST)
    assert gopen_table["ais"] is opener
    got = list(wds.WebDataset(url, shardshuffle=False))
    expected = _oracle(paths)
    assert len(expected) == SHARDS * 9  # 8 samples and __meta__.json (__meta__ is skipped)
    assert _plain(got) == expected
    assert {s["__url__"] for s in got} == {f"ais://{bucket}/shard-{s:03d}.tar" for s in range(4)}
    assert not any("__local_path__" in s for s in got)
    with Client(cluster.endpoint, config=FAST) as client:
        assert client.stats.errors == {}


@pytest.mark.parametrize(
    ("workers", "method", "how"),
    [(0, None, "attach"), (2, "fork", "register"), (1, "spawn", "attach")],
)
def test_dataloader_workers(
    cluster: LocalCluster,
    bucket: str,
    tmp_path: Path,
    gopen_table: dict[str, Any],
    workers: int,
    method: str | None,
    how: str,
) -> None:
    """``register`` reaches forked workers; ``attach`` travels with the dataset, so spawned
    workers (which start with webdataset's own table: the ``ais`` CLI, not installed here)
    open the shards through aisloader too."""
    url, paths = _put_shards(cluster, bucket, tmp_path)
    ds = wds.WebDataset(url, shardshuffle=False)
    if how == "register":
        aisloader.wds.register(cluster.endpoint, FAST)
    else:
        assert aisloader.wds.attach(ds, cluster.endpoint, FAST) is ds
    context = method and multiprocessing.get_context(method)
    loader = DataLoader(ds, batch_size=None, num_workers=workers, multiprocessing_context=context)
    got = list(loader)  # no collate function from the tests: workers import no test module
    assert _by_key(_plain(got)) == _by_key(_oracle(paths))


def test_missing_shard_typed_error_and_handler_policy(
    cluster: LocalCluster, bucket: str, tmp_path: Path, gopen_table: dict[str, Any]
) -> None:
    _, paths = _put_shards(cluster, bucket, tmp_path)
    aisloader.wds.register(cluster.endpoint, FAST)
    missing = f"ais://{bucket}/shard-missing.tar"
    with pytest.raises(ObjectNotFound, match=missing) as info:
        wds.gopen(missing)
    assert info.value.url == missing
    urls = [f"ais://{bucket}/shard-000.tar", missing, f"ais://{bucket}/shard-002.tar"]
    seen: list[Sample] = []
    with pytest.raises(ObjectNotFound, match=missing):
        seen.extend(wds.WebDataset(urls, shardshuffle=False))
    assert _plain(seen) == _oracle(paths[:1])  # the first shard, then the error
    one = wds.WebDataset(urls[1:2], shardshuffle=False)
    fork = multiprocessing.get_context("fork")
    err = _worker_error(one, fork)  # rebuilt by torch from the worker's text
    assert isinstance(err, ObjectNotFound)
    assert missing in str(err)
    with pytest.warns(UserWarning, match=f"ObjectNotFound.*{missing}"):
        got = list(wds.WebDataset(urls, shardshuffle=False, handler=wds.warn_and_continue))
    assert _plain(got) == _oracle([paths[0], paths[2]])


def _worker_error(ds: Any, context: Any) -> BaseException:
    """The error a DataLoader worker raised, detached from the loader's frames (a traceback
    that keeps the loader alive delays its worker shutdown by torch's 5 s join timeout)."""
    it = iter(DataLoader(ds, num_workers=1, multiprocessing_context=context))
    try:
        next(it)
    except Exception as exc:
        return exc.with_traceback(None)
    finally:
        del it
    raise AssertionError("no error")


@pytest.mark.parametrize("kind", ["truncate", "reset"])
def test_body_cut_mid_shard_is_resumed_byte_exact(
    cluster: LocalCluster, bucket: str, tmp_path: Path, gopen_table: dict[str, Any], kind: str
) -> None:
    url, paths = _put_shards(cluster, bucket, tmp_path, size=20_000)  # shards of ~220 KB
    aisloader.wds.register(cluster.endpoint, FAST.replace(chunk_size=16_384))
    cut = Fault(kind=kind, every=2, hop="target", path_prefix=f"/v1/objects/{bucket}/")  # type: ignore[arg-type]
    cluster.set_faults([cut])  # every other GET of a shard's body stops halfway
    before = cluster.stats()[f"faults.{kind}"]
    assert _plain(wds.WebDataset(url, shardshuffle=False)) == _oracle(paths)
    assert cluster.stats()[f"faults.{kind}"] - before >= SHARDS // 2


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_early_break_streams_and_releases_the_connection(
    cluster: LocalCluster, bucket: str, gopen_table: dict[str, Any]
) -> None:
    """A break after the first sample reads a bounded prefix of the shard (not all of it) and
    leaves no socket behind: neither ours nor the server's side of it."""
    big = tar_of([(f"{i:03d}.bin", blob(i, 64_000)) for i in range(64)])  # ~4 MB
    cluster.put_object(bucket, "big.tar", big)
    cfg = FAST.replace(chunk_size=1 << 16, bridge_queue=2)  # read-ahead ≤ ~5 chunks
    aisloader.wds.register(cluster.endpoint, cfg)
    ds = wds.WebDataset(f"ais://{bucket}/big.tar", shardshuffle=False)
    assert len(list(ds)) == 64  # warm: the pool holds its connections now
    baseline = _fds()
    with Client(cluster.endpoint, config=cfg) as client:
        before = client.stats.bytes_received
        for _ in range(10):
            for sample in ds:
                assert sample["__key__"] == "000"
                break
        assert client.stats.bytes_received - before < 10 * len(big) // 4
    deadline = time.monotonic() + 20  # the server closes its side asynchronously
    while _fds() > baseline + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _fds() <= baseline + 2, "a socket per early break was left open"


def _refuse_to_read(stream: Any) -> None:
    with pytest.raises(ConfigError, match="before a fork; open it again"):
        stream.read()  # past what the buffer already holds


@pytest.mark.parametrize("child", ["read", "close", "collect"])
def test_a_forked_child_never_touches_the_parents_stream(
    cluster: LocalCluster, bucket: str, gopen_table: dict[str, Any], child: str
) -> None:
    """A stream inherited through fork refuses to read, and neither closing it nor the
    garbage collector (a cycle that held it, uncollected when the parent forked) waits on the
    parent's loop thread, which does not exist in the child."""
    data = tar_of({"a.bin": blob(1, 300_000)})
    cluster.put_object(bucket, "s.tar", data)
    aisloader.wds.register(cluster.endpoint, FAST.replace(chunk_size=4096, bridge_queue=1))
    stream = wds.gopen(f"ais://{bucket}/s.tar")
    head = stream.read(1000)
    gc.disable()  # until the child is forked: the cycle below stays uncollected
    try:
        if child == "collect":
            cycle: list[Any] = [wds.gopen(f"ais://{bucket}/s.tar")]
            cycle.append(cycle)
            del cycle
        target = {"read": partial(_refuse_to_read, stream), "close": stream.close}
        proc = multiprocessing.get_context("fork").Process(target=target.get(child, gc.collect))
        proc.start()
    finally:
        gc.enable()
    proc.join(timeout=30)
    if proc.exitcode is None:
        proc.kill()
    assert proc.exitcode == 0
    assert head + stream.read() == data  # the parent's stream is intact
    stream.close()


def test_opener_contract(cluster: LocalCluster, bucket: str, gopen_table: dict[str, Any]) -> None:
    cluster.put_object(bucket, "o", b"0123456789")
    gopen_table["gs"] = importlib.import_module("webdataset.gopen").gopen_ais  # USE_AIS_FOR=gs
    first = aisloader.wds.register(cluster.endpoint, FAST)
    assert aisloader.wds.register(cluster.endpoint, FAST) is first  # idempotent
    assert gopen_table["gs"] is first
    assert pickle.loads(pickle.dumps(first)) == first
    with wds.gopen(f"ais://{bucket}/o") as f:
        assert f.name == f"ais://{bucket}/o"
        assert (f.read(3), f.tell(), f.read(), f.read()) == (b"012", 3, b"3456789", b"")
    assert f.closed
    with pytest.raises(ConfigError, match=f"ais://{bucket}/o.*reading only.*'wb'"):
        wds.gopen(f"ais://{bucket}/o", "wb")
    with pytest.raises(ConfigError, match="no object name"):
        wds.gopen(f"ais://{bucket}")
    with pytest.raises(ConfigError, match="DataPipeline"):
        aisloader.wds.attach([])
    with pytest.raises(ConfigError, match="must start with http"):
        aisloader.wds.register("localhost:51080")
    other = aisloader.wds.register("http://127.0.0.1:1")
    assert gopen_table["ais"] is other
    assert gopen_table["gs"] is other


def test_import_loads_neither_webdataset_nor_torch() -> None:
    code = (
        "import sys, aisloader, aisloader.wds\n"
        "print(sorted({'torch', 'webdataset'} & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"

"""A real torch.distributed run: 2 processes (gloo over 127.0.0.1) × 2 DataLoader workers read
an AISIterDataset; the union of what the ranks read is every object exactly once."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import torch.multiprocessing as tmp
from _shared import put_objects
from torchds_util import N, count_lists, ddp_equal_main, dist_rank_main

from aisloader.server import LocalCluster

DEADLINE = 90.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run_ranks(main: Any, args: tuple[Any, ...], hung: str) -> None:
    """Run ``main(rank, *args)`` on 2 spawned ranks; fail (and stop them) past the deadline."""
    ctx = tmp.start_processes(main, args, nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + DEADLINE
    try:
        while not ctx.join(timeout=1.0):
            assert time.monotonic() < deadline, hung
    finally:
        for process in ctx.processes:
            if process.is_alive():
                process.terminate()
                process.join(5)


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_gloo_two_ranks_two_workers_exactly_once(
    cluster: LocalCluster,
    objects: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
) -> None:
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")  # loopback only
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    lists = count_lists(cluster)
    args = (2, _free_port(), cluster.endpoint, "ais://tds/o/", str(tmp_path), method)
    _run_ranks(dist_rank_main, args, "the distributed run did not finish in time")
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert all(r["ok"] for r in records)  # right bytes for every name
    names = [n for r in records for n in r["names"]]
    assert len(names) == len(set(names)) == N  # no overlap, nothing missing
    assert set(names) == set(objects)
    assert [r["len"] for r in records] == [len(r["names"]) for r in records] == [N // 2] * 2
    assert lists() == 2  # one listing per rank, none per worker


def test_ddp_over_uneven_data_finishes_every_epoch(
    cluster: LocalCluster, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1003 objects on 2 ranks × 2 workers: with equal="pad" both ranks take the same number
    of steps (the all_reduce of each step would otherwise wait for ever on the last one)."""
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    put_objects(cluster, bucket, 1003, size=16)
    args = (2, _free_port(), cluster.endpoint, f"ais://{bucket}/o/", str(tmp_path))
    _run_ranks(ddp_equal_main, args, "a rank hung: uneven steps across ranks")
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert records[0]["steps"] == records[1]["steps"]
    assert [r["len"] for r in records] == [len(r["names"]) for r in records] == [502, 502]
    names = [n for r in records for n in r["names"]]
    assert set(names) == {f"o/{i:05d}" for i in range(1003)}  # every object, one repeated
    assert len(names) - len(set(names)) == 1

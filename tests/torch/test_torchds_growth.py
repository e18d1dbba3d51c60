"""No growth over many epochs: 50 epochs of an AISIterDataset through a DataLoader with
persistent workers keep the files, threads and memory of the main process and of every worker
flat, measured from epoch 5 on (after warm-up). Sockets are bounded, not flat: a worker's
connection pool may still add a connection now and then (one more request in flight at once
than before: +1 at epoch ~70 and +2 at ~100 of a 120-epoch run), never past the requests in
flight per host; the main process here also holds the embedded cluster's side of them."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from _shared import FAST, keep
from torch.utils.data import DataLoader

from aisloader.server import LocalCluster
from aisloader.torch import AISIterDataset

EPOCHS, WARM = 50, 5
FILE_SLACK = 1  # the listing file may be open at the moment of the reading
SOCKETS = 8  # seen: +3 over 120 epochs; one leaked connection per epoch would be +45 here
RSS_SLACK = 8 << 20  # allocator noise; a leak of one sample per epoch would pass it by far


def _usage(pid: int) -> tuple[int, int, int]:
    """(open non-socket file descriptors, sockets, resident bytes) of process ``pid``."""
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile
            continue
    sockets = sum(link.startswith("socket:") for link in links)
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return len(links) - sockets, sockets, rss


def test_fifty_epochs_with_persistent_workers_stay_flat(
    cluster: LocalCluster, objects: dict[str, bytes]
) -> None:
    dataset = AISIterDataset("ais://tds/o/", endpoint=cluster.endpoint, config=FAST, shuffle=True)
    loader = DataLoader(
        dataset,
        batch_size=8,
        num_workers=2,
        persistent_workers=True,
        multiprocessing_context="fork",
        collate_fn=keep,
    )
    seen: list[dict[int, tuple[int, int, int]]] = []
    threads: list[int] = []
    it: Any = None
    for epoch in range(EPOCHS):
        dataset.set_epoch(epoch)
        it = iter(loader)
        count = sum(len(batch) for batch in it)
        assert count == len(objects)
        pids = [os.getpid(), *(w.pid for w in it._workers)]
        seen.append({pid: _usage(pid) for pid in pids})
        threads.append(threading.active_count())
    base, end = seen[WARM], seen[-1]
    assert set(base) == set(end)  # the same worker processes throughout (persistent)
    for pid, (files, sockets, rss) in end.items():
        assert files - base[pid][0] <= FILE_SLACK, (pid, base[pid], end[pid])
        assert sockets - base[pid][1] <= SOCKETS, (pid, base[pid], end[pid])
        assert rss - base[pid][2] <= RSS_SLACK, (pid, base[pid], end[pid])
    assert threads[-1] == threads[WARM]
    del it

"""Rank entry points of the distributed kill/resume tests, and the runner that kills them.

Ranks are forked from the test process: a spawned rank would import torch and aisloader again
(seconds each, for 17 ranks), and so would one from the session's forkserver (Python 3.11's
forkserver ignores the parent's ``sys.path``, so the conftest's preload of ``torchds_util``
fails silently there). Importable by spawned and forkserver DataLoader workers. Each rank leads
its own process group, so a kill takes its workers down with it, as when a node dies.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from _shared import FAST, blob, keep
from torch.multiprocessing.spawn import ProcessContext, start_processes
from torchdata.stateful_dataloader import StatefulDataLoader  # type: ignore[import-untyped]

from aisloader import Ledger
from aisloader.core.streams.state import bundle
from aisloader.torch import AISIterDataset, AISShardReader, loader_states

DEADLINE = 60.0
"""Seconds a phase (ranks started → checkpoints written, or → ranks done) may take."""

BATCH = 4


@dataclass(frozen=True)
class Job:
    """What every rank of one phase reads and where it writes (picklable, sent to ranks)."""

    endpoint: str
    url: str
    out: str
    shards: bool = False  # AISShardReader (plugin form) instead of AISIterDataset
    method: str = "fork"  # DataLoader worker start method inside the ranks
    cut: int = 2  # batches rank r consumes before the kill: cut + r (work left on every worker)
    elastic_from: int = 0  # resume: merge the checkpoints of this many old ranks (0: own one)


def free_port() -> int:
    """A free TCP port on loopback for the gloo rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_dataset(job: Job, rank: int | None = None, world: int | None = None) -> Any:
    """The dataset of ``job``; rank and world from the process group unless given."""
    kw: dict[str, Any] = {"endpoint": job.endpoint, "config": FAST, "shuffle": True, "seed": 7}
    if job.shards:
        return AISShardReader(job.url, rank=rank, world_size=world, **kw)
    return AISIterDataset(job.url, rank=rank, world_size=world, **kw)


def make_loader(dataset: Any, method: str) -> StatefulDataLoader[Any]:
    """The loader every phase and the uninterrupted reference use: batches of 4, 2 workers."""
    return StatefulDataLoader(
        dataset, batch_size=BATCH, num_workers=2, multiprocessing_context=method, collate_fn=keep
    )


def sample_key(sample: Any, shards: bool) -> tuple[str, bool]:
    """The sample's unique key, and whether its payload is the right one: an object's name
    (its bytes are ``blob(i)``), or a plugin-form shard sample's basename (``{"txt": key}``)."""
    if shards:
        basename, parts = sample
        return basename, parts == {"txt": basename.encode()}
    name, data = sample
    return name, data == blob(int(name[-5:]))


def record(batches: Iterable[list[Any]], ledger: Ledger, shards: bool) -> tuple[list[str], bool]:
    """Record every batch in ``ledger``; return the keys read and whether all payloads held."""
    keys, ok = [], True
    for batch in batches:
        pairs = [sample_key(sample, shards) for sample in batch]
        ledger.record(key for key, _ in pairs)
        keys += [key for key, _ in pairs]
        ok = ok and all(good for _, good in pairs)
    return keys, ok


def reference(job: Job, rank: int, world: int) -> Ledger:
    """The ledger of rank ``rank`` of ``world`` reading the epoch uninterrupted, in-process
    (explicit rank/world split as the process group does: ``aisloader.torch._env.world``)."""
    ledger = Ledger()
    record(make_loader(make_dataset(job, rank, world), "fork"), ledger, job.shards)
    return ledger


def _join(rank: int, world: int, port: int, job: Job) -> None:
    """Lead a process group (the rank's workers die with it), join the gloo group."""
    os.setpgid(0, 0)
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"
    tempfile.tempdir = os.environ["TMPDIR"] = job.out  # what a kill leaves behind stays there
    if job.method == "forkserver":
        _own_forkserver()
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )


def _own_forkserver() -> None:
    """Forget the test process's forkserver this fork inherited (not the rank's child: it
    cannot be waited on), so the rank starts its own, preloaded with what workers import."""
    from multiprocessing import forkserver

    vars(forkserver)["_forkserver"].__init__()
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # for the preload
    multiprocessing.get_context("forkserver").set_forkserver_preload(["torch", __name__])


def kill_main(rank: int, world: int, port: int, job: Job) -> None:
    """Consume ``job.cut + rank`` batches, checkpoint, then wait to be killed (SIGKILL)."""
    _join(rank, world, port, job)
    loader, ledger = make_loader(make_dataset(job), job.method), Ledger()
    batches = iter(loader)
    keys, ok = record((next(batches) for _ in range(job.cut + rank)), ledger, job.shards)
    dist.barrier()  # every rank is mid-epoch, its workers prefetching
    state = {"loader": loader.state_dict(), "ledger": ledger.state_dict(), "keys": keys, "ok": ok}
    path = Path(job.out, f"rank{rank}.pt")
    torch.save(state, path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)
    parent, end = os.getppid(), time.monotonic() + DEADLINE
    while os.getppid() == parent and time.monotonic() < end:  # never outlive a dead test
        time.sleep(0.1)
    os._exit(3)


def resume_main(rank: int, world: int, port: int, job: Job) -> None:
    """Resume from the checkpoint(s) and finish the epoch; write the ledger and keys."""
    _join(rank, world, port, job)
    try:
        dataset, ledger = make_dataset(job), Ledger()
        if job.elastic_from:  # a new layout: every old part's state, bundled
            old = [load_checkpoint(job.out, r) for r in range(job.elastic_from)]
            dataset.load_state_dict(bundle([s for ck in old for s in loader_states(ck["loader"])]))
            loader = make_loader(dataset, job.method)
        else:
            checkpoint = load_checkpoint(job.out, rank)
            loader = make_loader(dataset, job.method)
            loader.load_state_dict(checkpoint["loader"])
            ledger.load_state_dict(checkpoint["ledger"])
        keys, ok = record(loader, ledger, job.shards)
        result = {"ledger": ledger.state_dict(), "keys": keys, "ok": ok}
        Path(job.out, f"resumed{rank}.json").write_text(json.dumps(result))
        dist.barrier()
    finally:
        dist.destroy_process_group()


def load_checkpoint(out: str | Path, rank: int) -> dict[str, Any]:
    """Rank ``rank``'s checkpoint of the killed run."""
    state: dict[str, Any] = torch.load(Path(out, f"rank{rank}.pt"))
    return state


def run_ranks(
    main: Callable[..., None], world: int, job: Job, *, kill: bool = False
) -> list[int | None]:
    """Run ``main(rank, world, port, job)`` on ``world`` ranks; return their exit codes.

    ``kill``: once every rank wrote its checkpoint, SIGKILL each rank's process group (else
    the ranks return first). Then, or past the deadline, or on an error, the groups are
    killed; nothing of them may be left running.
    """
    start: Callable[..., ProcessContext] = start_processes  # untyped in torch
    ctx = start(main, (world, free_port(), job), nprocs=world, join=False, start_method="fork")
    pids = [p.pid for p in ctx.processes if p.pid is not None]
    deadline = time.monotonic() + DEADLINE
    try:
        while not (kill and _all_saved(job.out, world)):
            if ctx.join(timeout=0.2):  # raises with the rank's traceback if one failed
                assert not kill, "the ranks ended before they were killed"
                break
            assert time.monotonic() < deadline, f"{main.__name__} on {world} ranks hung"
    finally:  # the kill, or whatever is left (a rank's forkserver takes seconds to exit)
        _signal_groups(pids)
        for process in ctx.processes:
            process.join(5)
            if process.is_alive():  # still before its setpgid
                process.kill()
                process.join(5)
        _wait_gone(pids)
    assert not any(p.is_alive() for p in ctx.processes)
    assert not list(_live_members(pids)), "processes of the ranks survived SIGKILL"
    return [p.exitcode for p in ctx.processes]


def _all_saved(out: str, world: int) -> bool:
    return all(Path(out, f"rank{r}.pt").exists() for r in range(world))


def _signal_groups(pids: list[int]) -> None:
    """SIGKILL the process group each rank leads (the rank, its workers, its forkserver)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _wait_gone(pids: list[int]) -> None:
    """Wait (bounded) until nothing of the groups runs: killed, or exited after their rank."""
    end = time.monotonic() + 10.0
    while list(_live_members(pids)) and time.monotonic() < end:
        time.sleep(0.05)


def _live_members(groups: list[int]) -> Iterator[int]:
    """Processes (not zombies) in the process groups ``groups`` (Linux ``/proc``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()  # state, ppid, pgrp, …
        if fields[0] not in "ZX" and int(fields[2]) in groups:
            yield int(entry.name)

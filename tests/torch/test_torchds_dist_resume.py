"""Real torch.distributed (gloo over 127.0.0.1) jobs of 2 and 3 ranks × 2 DataLoader workers,
SIGKILLed mid-epoch after a checkpoint and resumed by a new job: on the same layout each rank's
ledger equals its uninterrupted one; on 2 → 3 ranks the rest of the epoch is read exactly once.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from _shared import tar_of
from dist_resume_util import Job, kill_main, load_checkpoint, reference, resume_main, run_ranks

from aisloader import Ledger
from aisloader.server import LocalCluster

KILLED = -signal.SIGKILL


def _killed_then_resumed(job: Job, world: int, method: str = "fork") -> list[dict[str, Any]]:
    """Kill a ``world``-rank job mid-epoch; resume it on the same layout, each rank from its
    own checkpoint, with ``method`` workers. Returns the resumed ranks' records."""
    assert run_ranks(kill_main, world, job, kill=True) == [KILLED] * world  # a hard stop
    assert run_ranks(resume_main, world, replace(job, method=method)) == [0] * world
    return _records(job, world)


def _records(job: Job, world: int) -> list[dict[str, Any]]:
    """What each rank of the resumed job read."""
    return [json.loads(Path(job.out, f"resumed{r}.json").read_text()) for r in range(world)]


def _ledger(state: dict[str, int]) -> Ledger:
    ledger = Ledger()
    ledger.load_state_dict(state)
    return ledger


def _assert_exactly_once(
    job: Job, world: int, records: list[dict[str, Any]], every: Any, *, continued: bool
) -> None:
    """The killed ranks' checkpoints plus the resumed ranks' records hold every key once, by
    name and by ledger (``multiset`` of all ranks = that of one ledger of every key).
    ``continued``: the resumed ledgers went on from the checkpointed ones (same layout)."""
    checkpoints = [load_checkpoint(job.out, r) for r in range(world)]
    assert all(ck["ok"] for ck in checkpoints)  # every payload as written
    assert all(r["ok"] for r in records)
    before = [key for ck in checkpoints for key in ck["keys"]]
    after = [key for r in records for key in r["keys"]]
    assert before  # killed mid-epoch: both sides read something
    assert after
    repeated = [key for key, n in Counter(before + after).items() if n > 1]
    assert not repeated, f"read twice: {repeated[:5]}"
    assert set(before + after) == set(every)
    ledgers = [_ledger(r["ledger"]) for r in records]
    if not continued:
        ledgers += [_ledger(ck["ledger"]) for ck in checkpoints]
    whole = Ledger()
    whole.record(every)
    combined = Ledger().combine(*ledgers)
    assert combined.multiset == whole.multiset
    assert combined.samples == len(every)


def test_two_ranks_killed_mid_epoch_resume_on_two_and_regrow_to_three(
    cluster: LocalCluster, objects: dict[str, bytes], tmp_path: Path
) -> None:
    """One killed 2-rank job, resumed twice from its checkpoints: on 2 ranks (forkserver
    workers: rank and world reach them pickled), and on 3 ranks from the bundled states of
    both old ranks."""
    job = Job(cluster.endpoint, "ais://tds/o/", str(tmp_path))
    same = _killed_then_resumed(job, 2, method="forkserver")
    for rank, record in enumerate(same):
        assert record["ledger"] == reference(job, rank, 2).state_dict()
    _assert_exactly_once(job, 2, same, objects, continued=True)
    for stale in tmp_path.glob("resumed*.json"):
        stale.unlink()
    assert run_ranks(resume_main, 3, replace(job, elastic_from=2)) == [0, 0, 0]
    records = _records(job, 3)
    assert all(r["keys"] for r in records)  # the rest is split over all 3 new ranks
    _assert_exactly_once(job, 2, records, objects, continued=False)


def test_three_ranks_killed_mid_epoch_resume_as_uninterrupted(
    cluster: LocalCluster, objects: dict[str, bytes], tmp_path: Path
) -> None:
    """60 objects on 3 ranks × 2 workers (fork), killed after 2, 3 and 4 batches."""
    job = Job(cluster.endpoint, "ais://tds/o/", str(tmp_path))
    records = _killed_then_resumed(job, 3)
    for rank, record in enumerate(records):
        assert record["ledger"] == reference(job, rank, 3).state_dict()
    _assert_exactly_once(job, 3, records, objects, continued=True)


def test_shard_reader_killed_inside_shards_resumes_as_uninterrupted(
    cluster: LocalCluster, bucket: str, tmp_path: Path
) -> None:
    """12 shards of 6 samples on 2 ranks × 2 workers (3 shards each): every worker is killed
    inside a shard, and resumes there (plugin form; keys are unique basenames)."""
    keys = []
    for s in range(12):
        members = [(f"s{s:02d}_{k}.txt", f"s{s:02d}_{k}".encode()) for k in range(6)]
        cluster.put_object(bucket, f"sh/{s:02d}.tar", tar_of(members))
        keys += [name.removesuffix(".txt") for name, _ in members]
    job = Job(cluster.endpoint, f"ais://{bucket}/sh/", str(tmp_path), shards=True)
    records = _killed_then_resumed(job, 2)
    for rank, record in enumerate(records):
        assert record["ledger"] == reference(job, rank, 2).state_dict()
    _assert_exactly_once(job, 2, records, keys, continued=True)
    killed = {k[:3] for r in range(2) for k in load_checkpoint(job.out, r)["keys"]}
    resumed = {k[:3] for record in records for k in record["keys"]}
    assert len(killed & resumed) == 4  # every worker was killed inside a shard

"""Helpers of the resume property test (``test_torchds_resume_props.py``): the data, a table of
dataset modes, and both phases of an interrupted epoch.

Importable by the fresh process that resumes (spawned, ``tests/torch`` on its ``sys.path``) and
by DataLoader workers of every start method; this directory has no ``__init__.py`` on purpose
(a package named ``torch`` would shadow PyTorch).
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from _shared import FAST, blob, keep, put_objects, tar_of
from torch.utils.data import Sampler
from torch.utils.data.distributed import DistributedSampler
from torchdata.stateful_dataloader import StatefulDataLoader

from aisloader.core.streams.state import bundle
from aisloader.server import LocalCluster
from aisloader.torch import (
    AISBatchIterDataset,
    AISIterDataset,
    AISMapDataset,
    AISMultiShardStream,
    AISShardReader,
    loader_states,
)

BUCKET = "resume-props"
OBJECTS = 47
"""Objects under ``o/``: prime, so every layout of 2..9 parts (ranks × workers) is uneven."""
SHARDS = (9, 7, 9, 8, 9, 5)
"""Samples per shard under ``s/`` (47 in all); 6 shards over up to 9 parts leaves some empty."""
COLUMN_SHARDS = (4, 5, 4)
"""Members per shard of each multi-shard column (``a/`` and ``b/``; ``b/`` has one more)."""

Key = Hashable
Built = tuple[Any, Sampler[int] | None]
"""A dataset and the sampler its loader needs (map-style only)."""


# --- the data: what each mode's epoch holds, and keys that check the bytes they came with --


def put_data(cluster: LocalCluster) -> None:
    """Put every mode's data into :data:`BUCKET` (once per test module)."""
    cluster.create_bucket(BUCKET)
    put_objects(cluster, BUCKET, OBJECTS)
    for s, count in enumerate(SHARDS):
        members = [(f"{k}.{ext}", _member(k, ext)) for k in _shard_keys(s, count) for ext in EXTS]
        cluster.put_object(BUCKET, f"s/{s}.tar", tar_of(members))
    for column, extra in (("a", 0), ("b", 1)):
        for s, count in enumerate(COLUMN_SHARDS):
            n = count + (extra if s == len(COLUMN_SHARDS) - 1 else 0)
            members = [(f"m{s}-{k}.bin", f"{column}:{s}:{k}".encode()) for k in range(n)]
            cluster.put_object(BUCKET, f"{column}/{s}.tar", tar_of(members))


EXTS = ("cls", "txt")


def _shard_keys(shard: int, count: int) -> list[str]:
    return [f"d{shard}/{shard}-{k:02d}" for k in range(count)]


def _member(key: str, ext: str) -> bytes:
    return f"{ext}:{key}".encode() * 3


def _object_key(sample: Any) -> Key:
    """An object's name, after checking its bytes."""
    name, data = sample
    assert data == blob(int(name[-5:])), f"{name}: wrong bytes"
    return str(name)


def _shard_key(sample: Any) -> Key:
    """A shard sample's basename (plugin form ``(basename, {ext: bytes})`` or a WebDataset
    dict), after checking its members."""
    if isinstance(sample, dict):
        base = str(sample["__key__"]).rsplit("/", 1)[-1]
        parts = {k: v for k, v in sample.items() if not k.startswith("__")}
    else:
        base, parts = sample
    shard = base.split("-", 1)[0]
    assert parts == {ext: _member(f"d{shard}/{base}", ext) for ext in EXTS}, base
    return str(base)


def _pair_key(sample: Any) -> Key:
    """A multi-shard tuple as text, after checking both columns hold the same position."""
    a, b = (data.decode() for data in sample)
    assert a.split(":", 1)[1] == b.split(":", 1)[1], (a, b)
    return (a, b)


def _object_epoch() -> list[Key]:
    return [f"o/{i:05d}" for i in range(OBJECTS)]


def _shard_epoch() -> list[Key]:
    keys = [k for s, n in enumerate(SHARDS) for k in _shard_keys(s, n)]
    return [k.rsplit("/", 1)[-1] for k in keys]


def _pair_epoch() -> list[Key]:
    return [(f"a:{s}:{k}", f"b:{s}:{k}") for s, n in enumerate(COLUMN_SHARDS) for k in range(n)]


# --- the modes: how each dataset is built for one rank of a layout ------------------------


def _url(prefix: str) -> str:
    return f"ais://{BUCKET}/{prefix}"


def _common(endpoint: str, shuffle: bool, seed: int) -> dict[str, Any]:
    return {"endpoint": endpoint, "config": FAST, "shuffle": shuffle, "seed": seed}


def _objects(endpoint: str, rank: int, world: int, shuffle: bool, seed: int) -> Built:
    kw = _common(endpoint, shuffle, seed)
    return AISIterDataset(_url("o/"), rank=rank, world_size=world, **kw), None


def _get_batch(endpoint: str, rank: int, world: int, shuffle: bool, seed: int) -> Built:
    kw = _common(endpoint, shuffle, seed)
    dataset = AISBatchIterDataset(_url("o/"), max_batch_size=5, rank=rank, world_size=world, **kw)
    return dataset, None


def _multishard(endpoint: str, rank: int, world: int, shuffle: bool, seed: int) -> Built:
    sources = [_url("a/"), _url("b/")]
    kw = _common(endpoint, shuffle, seed)
    return AISMultiShardStream(sources, rank=rank, world_size=world, **kw), None


def _shard_reader(
    endpoint: str, rank: int, world: int, shuffle: bool, seed: int, **options: Any
) -> Built:
    kw = _common(endpoint, shuffle, seed)
    return AISShardReader(_url("s/"), rank=rank, world_size=world, **kw, **options), None


def _shards_with(**options: Any) -> Callable[[str, int, int, bool, int], Built]:
    """A shard-reader builder with these constructor options."""
    return partial(_shard_reader, **options)


def _map(endpoint: str, rank: int, world: int, shuffle: bool, seed: int) -> Built:
    dataset = AISMapDataset(_url("o/"), endpoint=endpoint, config=FAST)
    sampler: DistributedSampler[int] = DistributedSampler(
        dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed
    )
    return dataset, sampler


@dataclass(frozen=True)
class Mode:
    """How to build one kind of dataset for a rank, and what its epoch holds.

    Attributes:
        build: ``(endpoint, rank, world, shuffle, seed) -> (dataset, sampler or None)``.
        key: a sample's key (checks the sample's bytes on the way).
        epoch: every key of one epoch, once each.
        elastic: resumes on another layout (map-style under ``DistributedSampler`` cannot:
            the sampler's progress is a count of its own indices, which no other split knows).
        ordered: a rank's samples have one order (shards interleaved as they arrive have none:
            resumed on the same layout they are then each rank's samples exactly once).
        pads: an uninterrupted pass of all ranks repeats a few keys to a multiple of the rank
            count (``DistributedSampler``'s padding), so it is the epoch as a set only.
    """

    build: Callable[[str, int, int, bool, int], Built]
    key: Callable[[Any], Key]
    epoch: Callable[[], list[Key]]
    elastic: bool = True
    ordered: bool = True
    pads: bool = False


MODES: dict[str, Mode] = {
    "objects": Mode(_objects, _object_key, _object_epoch),
    "get-batch": Mode(_get_batch, _object_key, _object_epoch),
    "multishard": Mode(_multishard, _pair_key, _pair_epoch),
    "shards": Mode(_shard_reader, _shard_key, _shard_epoch),
    # shards interleaved as they arrive have no fixed order: exactly once only
    "shards-buffer": Mode(
        _shards_with(sample_format="dict", shuffle_buffer=8),
        _shard_key,
        _shard_epoch,
        ordered=False,
    ),
    "shards-det": Mode(
        _shards_with(sample_format="dict", deterministic=True, shuffle_buffer=8),
        _shard_key,
        _shard_epoch,
    ),
    "map": Mode(_map, _object_key, _object_epoch, elastic=False, pads=True),
}


# --- one loader per rank, both phases ------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Ranks × DataLoader workers (and how the workers start)."""

    world: int
    workers: int
    method: str | None = None

    def same(self, other: Layout) -> bool:
        """The same parts (the start method does not change which samples a part reads)."""
        return (self.world, self.workers) == (other.world, other.workers)


@dataclass(frozen=True)
class Job:
    """Everything phase 2 needs, as plain picklable data."""

    mode: str
    endpoint: str
    shuffle: bool
    seed: int
    batch_size: int
    old: Layout
    new: Layout
    states: tuple[bytes, ...]
    """Each old rank's ``StatefulDataLoader.state_dict()``, ``torch.save``d."""
    load: bool = True
    """False only to show that the property fails when the state is ignored."""


@dataclass
class RankRun:
    """One rank's uninterrupted pass in phase 1: its batches' keys and the loader state after
    each number of batches (``states[k]``: after ``k`` batches, ``torch.save``d)."""

    batches: list[list[Key]]
    states: list[bytes]


def loader(built: Built, batch_size: int, layout: Layout) -> StatefulDataLoader:
    """A StatefulDataLoader over one rank's dataset, keeping each batch as a list."""
    dataset, sampler = built
    return StatefulDataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=layout.workers,
        multiprocessing_context=layout.method if layout.workers else None,
        collate_fn=keep,
    )


def _saved(state: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _loaded(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), weights_only=False)


def run_with_checkpoints(
    name: str, endpoint: str, shuffle: bool, seed: int, batch_size: int, layout: Layout
) -> list[RankRun]:
    """Phase 1: every rank's uninterrupted pass, with a checkpoint after every batch (a
    checkpoint must not change what follows, so the pass is also the reference order)."""
    mode, runs = MODES[name], []
    for rank in range(layout.world):
        built = mode.build(endpoint, rank, layout.world, shuffle, seed)
        first = loader(built, batch_size, layout)
        batches = iter(first)
        run = RankRun([], [_saved(first.state_dict())])
        for batch in batches:
            run.batches.append([mode.key(s) for s in batch])
            run.states.append(_saved(first.state_dict()))
        del batches  # workers end here; a fresh process resumes from the states
        runs.append(run)
    return runs


def resume(job: Job) -> list[list[Key]]:
    """Phase 2 (in a fresh process): the keys each rank of ``job.new`` reads after resuming.

    Same layout: each rank's loader loads its own loader state. Another layout: every rank's
    dataset loads one bundle of all old parts' states (a loader state resumes only its own
    layout), then a loader is made over it.
    """
    mode, new = MODES[job.mode], job.new
    states = [_loaded(s) for s in job.states]
    same = job.old.same(new)
    merged = None if same else bundle([p for s in states for p in loader_states(s)])
    out: list[list[Key]] = []
    for rank in range(new.world):
        built = mode.build(job.endpoint, rank, new.world, job.shuffle, job.seed)
        if merged is not None and job.load:
            built[0].load_state_dict(merged)
        second = loader(built, job.batch_size, new)
        if same and job.load:
            second.load_state_dict(states[rank])
        out.append([mode.key(s) for batch in second for s in batch])
    return out


PRELOAD = ["torch", "torchdata.stateful_dataloader", "aisloader.torch", "aisloader.server"]
"""What the phase-2 process's forkserver imports once: installed packages only (Python 3.11's
forkserver ignores the ``sys.path`` it is sent, so a module of ``tests/`` preloads only when
``PYTHONPATH`` names it, and otherwise fails silently)."""


def start_fresh_process() -> None:
    """Initializer of the phase-2 process: its forkserver workers start from a server that
    imported torch and aisloader once (forked from it, a worker starts in milliseconds)."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)


def warm_up() -> None:
    """Start this process's forkserver now (it imports torch and aisloader: seconds)."""
    from multiprocessing import forkserver

    forkserver.ensure_running()


def flat(batches: Sequence[Sequence[Key]]) -> list[Key]:
    """The keys of ``batches`` in order."""
    return list(itertools.chain.from_iterable(batches))


def sorted_keys(keys: Iterable[Key]) -> list[Key]:
    """Keys in a canonical order (for multiset comparison)."""
    return sorted(keys, key=repr)

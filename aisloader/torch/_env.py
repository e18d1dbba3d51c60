"""Where this process sits: torch.distributed rank/world and DataLoader worker → :class:`Part`.

Rank and world size come, in order, from: explicit arguments; an initialised default process
group (forked workers inherit it); a snapshot taken when the dataset was pickled in the parent
(spawn/forkserver workers); ``RANK``/``WORLD_SIZE`` (torchrun); else a single process.
"""

from __future__ import annotations

import os

import torch.distributed as dist
from torch.utils.data import get_worker_info

from aisloader.core.streams.order import Part, split

__all__ = ["current_part", "dist_snapshot", "world"]


def dist_snapshot() -> tuple[int, int] | None:
    """``(rank, world_size)`` of the initialised default process group, else None."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


def world(
    rank: int | None = None,
    world_size: int | None = None,
    snapshot: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """``(rank, world_size)`` of this process (see module docs for where they come from)."""
    if rank is None or world_size is None:
        found = dist_snapshot() or snapshot or _from_env()
        rank = found[0] if rank is None else rank
        world_size = found[1] if world_size is None else world_size
    return rank, world_size


def current_part(
    rank: int | None = None,
    world_size: int | None = None,
    snapshot: tuple[int, int] | None = None,
    rotate: int = 0,
) -> Part:
    """The share of the data this process (rank × DataLoader worker) reads; ``rotate`` gives
    DataLoader worker ``w`` the part of worker ``w + rotate`` (a resumed plain DataLoader
    starts its rotation at worker 0, the interrupted one was further on)."""
    rank, world_size = world(rank, world_size, snapshot)
    info = get_worker_info()
    worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return split(rank, world_size, (worker + rotate) % num_workers, num_workers)


def _from_env() -> tuple[int, int]:
    try:
        return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 0, 1

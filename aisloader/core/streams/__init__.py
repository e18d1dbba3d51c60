"""Epoch streams: the one owner of iteration state, and how each kind of item is read.

* :mod:`.order` — pure rules: the seeded epoch permutation and the rank × worker split.
* :mod:`.base` — :class:`EpochStream`: sources, listing, part, seed, shuffle, epoch, batches.
* :mod:`.objects` — :class:`ObjectStream`: objects through a window of GETs.
* :mod:`.shards` — :class:`ShardStream`: WebDataset samples parsed as shards stream in.
* :mod:`.batches` — :class:`BatchStream`: objects through get-batch.
* :mod:`.multishard` — :class:`MultiShardStream`: shard sets zipped member by member.
"""

from aisloader.core.streams.base import EpochStream
from aisloader.core.streams.batches import BatchStream
from aisloader.core.streams.multishard import MultiShardStream
from aisloader.core.streams.objects import ObjectStream
from aisloader.core.streams.shards import ShardOptions, ShardStats, ShardStream

__all__ = [
    "BatchStream",
    "EpochStream",
    "MultiShardStream",
    "ObjectStream",
    "ShardOptions",
    "ShardStats",
    "ShardStream",
]

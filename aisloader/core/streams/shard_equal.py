"""``equal=`` for shard streams: the same number of samples on every part of the layout.

Shards are dealt whole, and hold different numbers of samples, so the parts' shares differ.
Every part (rank × DataLoader worker) therefore takes the same *quota* of samples, computed
from the sample count of every shard (one archive listing of the sources, no data read) and
the epoch's deal: the largest share under ``"pad"`` (a part that runs out repeats the epoch's
first samples, marked ``"__padded__"``), the smallest under ``"drop"`` (a part stops at the
quota; the rest of its share is left out this epoch). Equal counts per part give equal counts
and equal batches per rank, whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aisloader.core.listing.manifest import Manifest
from aisloader.core.listing.shard_index import list_members
from aisloader.core.listing.sources import Source
from aisloader.core.streams.order import Permutation
from aisloader.core.tar.samples import split_key
from aisloader.errors import ConfigError
from aisloader.refs import ObjectRef

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient

__all__ = ["equal_quota", "shard_sample_counts"]


async def shard_sample_counts(
    client: AsyncClient, sources: Sequence[Source], manifest: Manifest
) -> tuple[int, ...]:
    """Samples per shard of ``manifest`` (by listing index), from AIS's archive listing.

    Raises:
        ConfigError: a shard the archive listing does not show (not named as a shard).
        BucketNotFound, AISError, TransportError: as for a listing.
    """
    keys: dict[str, set[str]] = {}
    async for bucket, shard, member, _ in list_members(client, sources):
        keys.setdefault(ObjectRef(bucket, shard).uri, set()).add(split_key(member)[0])
    counts = []
    for index in range(len(manifest)):
        ref = manifest.ref(index)
        found = keys.get(ref.uri)
        if found is None:
            raise ConfigError(
                f"equal= counts each shard's samples from AIS's archive listing, which does "
                f"not list {ref.uri} (not a .tar/.tgz/.tar.gz name, or empty): rename it, "
                "narrow the prefix, or read without equal="
            )
        counts.append(len(found))
    return tuple(counts)


def equal_quota(
    counts: Sequence[int], parts: int, policy: str, seed: int, epoch: int, shuffle: bool
) -> int:
    """Samples every one of ``parts`` parts takes this epoch: the largest share (``"pad"``) or
    the smallest (``"drop"``) of the epoch's round-robin deal of the shards."""
    n = len(counts)
    perm = Permutation(n, seed, epoch, shuffle=shuffle)
    shares = [sum(counts[perm[p]] for p in range(j, n, parts)) for j in range(parts)]
    return max(shares) if policy == "pad" else min(shares)

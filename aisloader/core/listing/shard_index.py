"""Random access into unmodified WebDataset shards.

The cluster lists archive members itself (list-objects with the ``ARCH_DIR`` flag: each shard
is followed by its members, ``shard.tar/member``). :func:`build_shard_index` groups members into
samples with the WebDataset key rules and stores them compactly: a member :class:`Manifest`
(names ``shard/member``) plus flat arrays for sample boundaries and where each shard name ends.
A sample is then read by ``archpath`` (one GET per member, concurrently) or through get-batch,
so users can shuffle globally without converting their data. The index saves and reloads.

A shard the cluster cannot read as an archive (truncated, corrupt) raises
:class:`ShardFormatError` naming it, unless the caller of :func:`build_shard_index` passes
``on_unreadable``: then it is left out of the index, never silently (the hook gets every such
shard's error, :class:`UnreadableShards`, and decides).
"""

from __future__ import annotations

from array import array
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from aisloader.core.listing.manifest import Manifest, ManifestBuilder
from aisloader.core.listing.sources import Source, is_shard, nothing_matched
from aisloader.core.tar.samples import is_meta, split_key
from aisloader.errors import ConfigError, SampleError, ShardFormatError
from aisloader.refs import Bucket, ObjectRef

if TYPE_CHECKING:
    from aisloader.core.client import AsyncClient

__all__ = [
    "ARCH_DIR",
    "MemberRef",
    "ShardIndex",
    "UnreadableShards",
    "build_shard_index",
    "count_samples",
    "list_members",
]

ARCH_DIR = 1 << 3  # list-objects flag: expand archives into their members
_IN_ARCHIVE = 128  # entry flag: a file inside an archive
_IS_ARCHIVE = 512  # entry flag: an archive the cluster read (its members follow)


@dataclass(frozen=True, slots=True)
class MemberRef:
    """One member of one shard: read with ``get(shard, archpath=member)``."""

    shard: ObjectRef
    member: str
    ext: str
    size: int


@dataclass(slots=True)
class UnreadableShards:
    """The shards a listing left out because the cluster cannot read them as archives: their
    errors (in listing order), and how many shards were listed in all (read or not)."""

    errors: list[ShardFormatError] = field(default_factory=list)
    shards: int = 0


class _Saved(msgspec.Struct, frozen=True):
    members: bytes
    starts: bytes
    shard_len: bytes


class ShardIndex:
    """Samples of a set of shards, each a run of members; indexable in O(1)."""

    __slots__ = ("_members", "_shard_len", "_starts")

    def __init__(self, members: Manifest, starts: array[int], shard_len: array[int]) -> None:
        if len(shard_len) != len(members) or (starts and starts[-1] != len(members)):
            raise ValueError("shard index buffers disagree")
        self._members, self._starts, self._shard_len = members, starts, shard_len

    def __len__(self) -> int:
        return max(0, len(self._starts) - 1)

    def sample(self, index: int) -> tuple[str, list[MemberRef]]:
        """``(key, members)`` of sample ``index``: the WebDataset key within its shard (the
        shard is ``members[0].shard``), as
        :class:`~aisloader.core.streams.shards.ShardStream` keys it.

        Raises:
            IndexError: ``index`` out of range.
        """
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        refs = [self._member(i) for i in range(self._starts[index], self._starts[index + 1])]
        return split_key(refs[0].member)[0], refs

    def _member(self, i: int) -> MemberRef:
        full, cut = self._members.name(i), self._shard_len[i]
        member = full[cut + 1 :]
        return MemberRef(
            ObjectRef(self._members.bucket(i), full[:cut]),
            member,
            split_key(member)[1],
            self._members.size(i),
        )

    def save(self, path: str | Path) -> None:
        """Write the index (the member manifest beside it as ``<path>.members``)."""
        target = Path(path)
        self._members.save(target.with_name(target.name + ".members"))
        blob = _Saved(b"", self._starts.tobytes(), self._shard_len.tobytes())
        target.write_bytes(msgspec.msgpack.encode(blob))

    @classmethod
    def load(cls, path: str | Path) -> ShardIndex:
        """Read an index written by :meth:`save`.

        Raises:
            ValueError: not a shard index.
        """
        target = Path(path)
        try:
            saved = msgspec.msgpack.decode(target.read_bytes(), type=_Saved)
        except msgspec.DecodeError as exc:
            raise ValueError(f"{path}: not an aisloader shard index: {exc}") from exc
        members = Manifest.load(target.with_name(target.name + ".members"))
        starts, shard_len = array("Q"), array("I")
        starts.frombytes(saved.starts)
        shard_len.frombytes(saved.shard_len)
        return cls(members, starts, shard_len)

    def __reduce__(self) -> tuple[object, ...]:
        return (ShardIndex, (self._members, self._starts, self._shard_len))


async def build_shard_index(
    client: AsyncClient,
    srcs: Sequence[Source],
    *,
    on_unreadable: Callable[[UnreadableShards], None] | None = None,
) -> ShardIndex:
    """List shards with their members (one ``ARCH_DIR`` listing per source) and group samples.

    A sample is every member of one shard with the same WebDataset key. The cluster lists
    members sorted by name, which can split a key's run (``a.cls``, ``a.b/c.jpg``, ``a.jpg``),
    so members are grouped per shard by key, in order of first appearance.

    Args:
        client: the cluster.
        srcs: the shard sources.
        on_unreadable: when given, a shard the cluster cannot read as an archive is left out
            of the index instead of raising; once listed, ``on_unreadable`` gets those shards
            (it may raise, say for a budget) before an empty index raises ConfigError.

    Raises:
        ConfigError: no shard member matched the sources (or none was left).
        ShardFormatError: a shard the cluster cannot read as an archive (no
            ``on_unreadable``).
        SampleError: two members of one sample have the same (lower-cased) extension, as
            webdataset would raise; a dict sample cannot hold both.
    """
    unreadable = UnreadableShards() if on_unreadable is not None else None
    builder, starts, shard_len = ManifestBuilder(), array("Q"), array("I")
    current: tuple[Bucket, str] | None = None  # the shard being grouped
    pending: dict[str, list[tuple[str, int]]] = {}  # its samples: key -> [(member, size)]

    def flush() -> None:
        if current is None:
            return
        bucket, shard = current
        for members in pending.values():
            starts.append(len(builder))
            for member, size in members:
                builder.add(bucket, f"{shard}/{member}", size)
                shard_len.append(len(shard))
        pending.clear()

    async for bucket, shard, member, size in list_members(client, srcs, unreadable):
        if (bucket, shard) != current:
            flush()
            current = (bucket, shard)
        key, ext = split_key(member)
        sample = pending.setdefault(key, [])
        if any(split_key(m)[1] == ext for m, _ in sample):
            raise SampleError(
                f"{ObjectRef(bucket, shard).uri}: sample {key!r} has two {ext!r} members "
                f"({member!r} and an earlier one); rename one or drop it from the shard"
            )
        sample.append((member, size))
    flush()
    if on_unreadable is not None and unreadable is not None:
        on_unreadable(unreadable)
    if not len(builder):
        error = ConfigError(nothing_matched(srcs).replace("objects", "shard members", 1))
        if unreadable is not None and unreadable.errors:
            error.add_note(
                f"{len(unreadable.errors)} of the {unreadable.shards} shards listed were left "
                f"out: the cluster cannot read them as archives (first: {unreadable.errors[0]})"
            )
        raise error
    starts.append(len(builder))
    return ShardIndex(builder.build(), starts, shard_len)


async def count_samples(client: AsyncClient, shards: Sequence[ObjectRef]) -> int:
    """How many WebDataset samples ``shards`` hold, from one archive listing per shard.

    Raises:
        BucketNotFound, AISError, TransportError: as for a listing.
    """
    total = 0
    for ref in shards:
        keys = set()
        async for _, _, member, _ in list_members(client, [Source(ref.bucket, names=(ref.name,))]):
            keys.add(split_key(member)[0])
        total += len(keys)
    return total


async def list_members(
    client: AsyncClient, srcs: Sequence[Source], unreadable: UnreadableShards | None = None
) -> AsyncIterator[tuple[Bucket, str, str, int]]:
    """``(bucket, shard, member, size)`` of every data member of every shard listed.

    Raises:
        ShardFormatError: a shard the cluster cannot read as an archive, unless
            ``unreadable`` is given: its error is then appended there (and every shard
            listed counted) and its members (none are listed) left out.
    """
    for source in srcs:
        # Explicit shard names: list each one (its members follow it in the listing).
        prefixes = source.prefixes if source.names is None else source.names
        for prefix in prefixes:
            shard = ""
            entries = client.list_objects(source.bucket, prefix, props="name,size", flags=ARCH_DIR)
            async for entry in entries:
                name, flags = entry.name, int(getattr(entry, "flags", 0) or 0)
                if not flags & _IN_ARCHIVE:
                    wanted = source.names is None or name == prefix
                    shard = name if wanted and is_shard(name) else ""
                    if shard and unreadable is not None:
                        unreadable.shards += 1
                    if shard and not flags & _IS_ARCHIVE:  # listed, but not as an archive
                        error = ShardFormatError(
                            ObjectRef(source.bucket, shard).uri,
                            reason="the cluster cannot read it as an archive, so its members "
                            "are not listed",
                        )
                        if unreadable is None:
                            raise error
                        unreadable.errors.append(error)
                        shard = ""
                    continue
                if shard and name.startswith(shard + "/") and _is_data(name[len(shard) + 1 :]):
                    yield source.bucket, shard, name[len(shard) + 1 :], int(entry.size or 0)


def _is_data(member: str) -> bool:
    """WebDataset skips ``__*__`` meta entries and names it cannot key; so do we."""
    return not is_meta(member) and bool(split_key(member)[0])

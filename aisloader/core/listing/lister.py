"""Listing: every object (name, size) the sources match, page by page, or into a manifest."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import Any, Protocol

from aisloader.core.listing.manifest import Manifest, ManifestBuilder
from aisloader.core.listing.sources import Source, nothing_matched
from aisloader.errors import ConfigError
from aisloader.refs import Bucket

__all__ = ["Entry", "Lister", "build_manifest", "iter_entries"]


class Entry(Protocol):
    """What a listing yields per object (``AsyncClient.list_objects`` entries fit)."""

    @property
    def name(self) -> str: ...

    @property
    def size(self) -> int: ...


class Lister(Protocol):
    """The part of ``AsyncClient`` that listing needs."""

    def list_objects(
        self, bucket: Bucket, prefix: str = "", *, props: str = ..., page_size: int | None = ...
    ) -> AsyncGenerator[Any, None]: ...


async def iter_entries(
    client: Lister, srcs: Sequence[Source], *, page_size: int | None = None
) -> AsyncGenerator[tuple[Bucket, str, int], None]:
    """Yield ``(bucket, name, size)`` for every object of ``srcs``, listing page by page.

    Explicit name lists are yielded as given, size -1. Listing errors (missing bucket) propagate.
    """
    for source in srcs:
        if source.names is not None:
            for name in source.names:
                yield source.bucket, name, -1
            continue
        for prefix in source.prefixes:
            entries = client.list_objects(
                source.bucket, prefix, props="name,size", page_size=page_size
            )
            async with aclosing(entries):  # closed here on early exit, not by the GC
                async for entry in entries:
                    yield source.bucket, entry.name, int(entry.size or 0)


async def build_manifest(
    client: Lister,
    srcs: Sequence[Source],
    *,
    page_size: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> Manifest:
    """List every source once into a compact :class:`Manifest`.

    ``progress(n)`` is called after each listed object with the count so far.

    Raises:
        ConfigError: the sources matched no object (an empty epoch would look like success).
        BucketNotFound: a bucket does not exist.
    """
    builder = ManifestBuilder()
    async with aclosing(iter_entries(client, srcs, page_size=page_size)) as entries:
        async for bucket, name, size in entries:
            builder.add(bucket, name, size)
            if progress is not None:
                progress(len(builder))
    if not len(builder):
        raise ConfigError(nothing_matched(srcs))
    return builder.build()

"""Object streams: every object of the sources once per epoch, as ``(name, bytes)``.

:class:`ObjectStream` reads the positions its :class:`~aisloader.core.streams.base.EpochStream`
gives it through the client's bounded ``get_many`` window. It is also the public async API for
custom trainers::

    async with AsyncClient() as client:
        stream = ObjectStream("ais://bucket/train/", client=client, shuffle=True, seed=1)
        stream.set_epoch(3)
        async for name, data in stream:
            ...

When the stream is alone (one part) and unshuffled, listing pages flow straight into the fetch
window, so the first objects arrive before the listing ends; the listing is recorded into a
manifest as it goes and later epochs reuse it instead of listing again.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing
from typing import Any

from aisloader.core.listing.lister import iter_entries
from aisloader.core.listing.manifest import ManifestBuilder
from aisloader.core.listing.sources import nothing_matched
from aisloader.core.stages.window import ordered_window
from aisloader.core.streams.base import EpochStream
from aisloader.core.streams.skips import or_skipped
from aisloader.errors import ConfigError
from aisloader.etl import Etl
from aisloader.refs import ObjectRef

__all__ = ["ObjectStream"]


class ObjectStream(EpochStream[tuple[str, bytes]]):
    """Every object of the sources, once per epoch, as ``(name, bytes)``; see module docs.

    Args:
        window: GETs in flight (default ``config.window``).
        **kwargs: as for :class:`~aisloader.core.streams.base.EpochStream`.

    Raises:
        ConfigError: no source or a malformed one; nothing matched (while iterating).
        BucketNotFound, ObjectNotFound, AISError, TransportError: while iterating.
    """

    def __init__(self, ais_source_list: Any, *, window: int | None = None, **kwargs: Any) -> None:
        super().__init__(ais_source_list, **kwargs)
        self.window = window

    @property
    def lists_ahead(self) -> bool:
        return self.part.count > 1 or self.shuffle or self.on_error == "skip"  # (its budget)

    async def refs(self) -> AsyncGenerator[ObjectRef, None]:
        """The refs this stream reads this epoch, in order."""
        if self._manifest is None and not self.lists_ahead:
            async with aclosing(self._list_and_record()) as listed:
                async for ref in listed:
                    yield ref
            return
        manifest = await self.manifest()
        for index in self.positions(manifest):
            yield manifest.ref(index)

    async def _items(self) -> AsyncGenerator[tuple[str, bytes], None]:
        # Close every generator of the chain here, in order: left to the garbage collector, an
        # async generator's cleanup would run later as an orphan task on the loop.
        if self.on_error == "skip":
            async with aclosing(self._read_or_skip()) as items:
                async for item in items:
                    yield item
            return
        async with (
            aclosing(self.refs()) as refs,
            aclosing(self.client.get_many(refs, window=self.window, etl=self.etl)) as pairs,
        ):
            async for ref, data in pairs:
                yield ref.name, data

    async def _read_or_skip(self) -> AsyncGenerator[tuple[str, Any], None]:
        """As :meth:`_items`, with ``(name, Skipped)`` for an object that cannot be read."""
        client, spec = self.client, Etl.of(self.etl)

        def read(ref: ObjectRef) -> Awaitable[Any]:
            return or_skipped(ref.uri, client.get(ref, etl=spec))

        cfg = client.config
        async with aclosing(self.refs()) as refs:
            pairs = ordered_window(
                refs,
                read,
                self.window or cfg.window,
                ahead=cfg.read_ahead,
                ahead_bytes=cfg.read_ahead_bytes,
            )
            async with aclosing(pairs):
                async for ref, value in pairs:
                    yield ref.name, value

    def _nbytes(self, item: tuple[str, bytes]) -> int:
        data = item[1]
        return len(data) if isinstance(data, bytes | bytearray | memoryview) else 0

    async def _list_and_record(self) -> AsyncGenerator[ObjectRef, None]:
        builder = ManifestBuilder()
        page_size = self.client.config.list_page_size or None
        async with aclosing(iter_entries(self.client, self.sources, page_size=page_size)) as it:
            async for bucket, name, size in it:
                builder.add(bucket, name, size)
                yield ObjectRef(bucket, name)
        if not len(builder):
            raise ConfigError(nothing_matched(self.sources))
        self._manifest = builder.build()

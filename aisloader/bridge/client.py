"""`Client`: the blocking face of :class:`~aisloader.core.client.AsyncClient`.

Each method is a one-line wrapper that runs the async method on the per-process loop thread
(``aisloader.bridge.runtime``); iterators come back through the bounded bridge. A Client pickles as
its endpoint and config only, and works unchanged in forked, spawned and forkserver children.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import AsyncIterable, Generator, Iterable
from types import TracebackType
from typing import Any

from aisloader.bridge import conn, runtime
from aisloader.bridge.iterate import iterate
from aisloader.config import ClientConfig, endpoint_from_env
from aisloader.core.batch.entry import BatchEntry, BatchValue, OutputFormat
from aisloader.core.client import AsyncClient, BucketLike
from aisloader.core.http.payload import PutData
from aisloader.core.http.reader import ByteRange
from aisloader.core.http.retry import Stats
from aisloader.core.http.wire import ObjectEntry, ObjectProps
from aisloader.refs import Bucket, ObjectRef, RefLike

__all__ = ["Client"]


class Client:
    """Blocking AIS client. Use ``with Client(...) as c:`` (or call :meth:`close`).

    Args:
        endpoint: proxy URL; defaults to ``$AIS_ENDPOINT``.
        config: every knob; defaults to ``ClientConfig.from_env()``.

    Raises:
        ConfigError: no endpoint, or an invalid configuration in the environment.
    """

    def __init__(self, endpoint: str | None = None, *, config: ClientConfig | None = None) -> None:
        self.endpoint = endpoint_from_env(endpoint)
        self.config = ClientConfig.from_env() if config is None else config
        self._aclient: AsyncClient | None = None
        self._lease: weakref.finalize[..., Any] | None = None
        self._pid = 0

    def __repr__(self) -> str:
        return f"Client({self.endpoint!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["endpoint"], config=state["config"])  # type: ignore[misc]

    def _a(self) -> AsyncClient:
        pid = os.getpid()
        if self._aclient is None or self._pid != pid:  # first use, or a forked child
            self._aclient = conn.lease(self.endpoint, self.config)
            self._pid = pid
            self._lease = weakref.finalize(self, conn.release, self.endpoint, self.config, pid)
            self._lease.atexit = False  # at exit, runtime.shutdown closes every shared client
        return self._aclient

    @property
    def stats(self) -> Stats:
        """Counters of this process's underlying client."""
        return self._a().stats

    def close(self) -> None:
        """Release this client's share of the connections (idempotent); the session closes
        when no other Client with the same endpoint and config uses it."""
        lease, self._aclient, self._lease = self._lease, None, None
        if lease is not None and lease.detach() is not None and self._pid == os.getpid():
            conn.release(self.endpoint, self.config, self._pid, wait=True)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def create_bucket(self, bucket: BucketLike, *, exist_ok: bool = False) -> Bucket:
        """See :meth:`AsyncClient.create_bucket`.

        Raises:
            BucketAlreadyExists, AISError, TransportError: as the async method.
        """
        return runtime.call(self._a().create_bucket, bucket, exist_ok=exist_ok)

    def head_bucket(self, bucket: BucketLike) -> dict[str, Any]:
        """See :meth:`AsyncClient.head_bucket`.

        Raises:
            BucketNotFound, AISError, TransportError: as the async method.
        """
        return runtime.call(self._a().head_bucket, bucket)

    def list_buckets(self, provider: str | None = None) -> list[Bucket]:
        """See :meth:`AsyncClient.list_buckets`.

        Raises:
            ConfigError, AISError, TransportError: as the async method.
        """
        return runtime.call(self._a().list_buckets, provider)

    def destroy_bucket(self, bucket: BucketLike, *, missing_ok: bool = False) -> None:
        """See :meth:`AsyncClient.destroy_bucket`.

        Raises:
            BucketNotFound, AISError, TransportError: as the async method.
        """
        return runtime.call(self._a().destroy_bucket, bucket, missing_ok=missing_ok)

    def list_objects(
        self,
        bucket: BucketLike,
        prefix: str = "",
        *,
        props: str = "name,size",
        page_size: int | None = None,
        flags: int = 0,
    ) -> Generator[ObjectEntry, None, None]:
        """See :meth:`AsyncClient.list_objects` (a blocking iterator).

        Raises:
            BucketNotFound, AISError, TransportError, DataError: as the async method.
        """
        return iterate(
            lambda: self._a().list_objects(
                bucket, prefix, props=props, page_size=page_size, flags=flags
            ),
            self.config.bridge_queue,
        )

    def get(
        self, ref: RefLike, *, byte_range: ByteRange | None = None, archpath: str | None = None
    ) -> bytes:
        """See :meth:`AsyncClient.get`.

        Raises:
            ObjectNotFound, AISError, TransportError, DataError: as the async method.
        """
        return runtime.call(self._a().get, ref, byte_range=byte_range, archpath=archpath)

    def get_stream(
        self, ref: RefLike, *, byte_range: ByteRange | None = None, archpath: str | None = None
    ) -> Generator[bytes, None, None]:
        """See :meth:`AsyncClient.get_stream` (a blocking iterator of chunks).

        Raises:
            ObjectNotFound, AISError, TransportError, DataError: as the async method.
        """
        return iterate(
            lambda: self._a().get_stream(ref, byte_range=byte_range, archpath=archpath),
            self.config.bridge_queue,
        )

    def get_into(
        self,
        ref: RefLike,
        buffer: bytearray | memoryview,
        *,
        byte_range: ByteRange | None = None,
        archpath: str | None = None,
    ) -> int:
        """See :meth:`AsyncClient.get_into`.

        Raises:
            ConfigError, ObjectNotFound, AISError, TransportError: as the async method.
        """
        return runtime.call(
            self._a().get_into, ref, buffer, byte_range=byte_range, archpath=archpath
        )

    def head(self, ref: RefLike) -> ObjectProps:
        """See :meth:`AsyncClient.head`.

        Raises:
            ObjectNotFound, AISError, TransportError: as the async method.
        """
        return runtime.call(self._a().head, ref)

    def put(self, ref: RefLike, data: PutData) -> ObjectProps:
        """See :meth:`AsyncClient.put`.

        Raises:
            ConfigError, AISError, TransportError: as the async method.
        """
        return runtime.call(self._a().put, ref, data)

    def delete(self, ref: RefLike, *, missing_ok: bool = False) -> None:
        """See :meth:`AsyncClient.delete`.

        Raises:
            ObjectNotFound, AISError, TransportError: as the async method.
        """
        return runtime.call(self._a().delete, ref, missing_ok=missing_ok)

    def get_many(
        self,
        refs: Iterable[RefLike] | AsyncIterable[RefLike],
        *,
        window: int | None = None,
        ordered: bool = True,
    ) -> Generator[tuple[ObjectRef, bytes], None, None]:
        """See :meth:`AsyncClient.get_many` (a blocking iterator).

        Raises:
            ObjectNotFound, AISError, TransportError, DataError: as the async method.
        """
        return iterate(
            lambda: self._a().get_many(refs, window=window, ordered=ordered),
            self.config.bridge_queue,
        )

    def get_batch(
        self,
        entries: Iterable[BatchEntry | RefLike] | AsyncIterable[BatchEntry | RefLike],
        *,
        batch_size: int | None = None,
        output_format: OutputFormat = ".tar",
        streaming: bool = True,
        continue_on_error: bool = True,
    ) -> Generator[tuple[BatchEntry, BatchValue], None, None]:
        """See :meth:`AsyncClient.get_batch` (a blocking iterator).

        Raises:
            ObjectNotFound, ConfigError, IncompleteRead: as the async method.
        """
        return iterate(
            lambda: self._a().get_batch(
                entries,
                batch_size=batch_size,
                output_format=output_format,
                streaming=streaming,
                continue_on_error=continue_on_error,
            ),
            self.config.bridge_queue,
        )

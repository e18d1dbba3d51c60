"""The torch facade's connection: the bridge's :class:`Conn`, with errors that also match the
official SDK's classes when they leave a dataset (:mod:`aisloader.torch.errors`)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import Any, TypeVar

from aisloader.bridge.conn import Conn
from aisloader.core.client import AsyncClient
from aisloader.torch.errors import sdk_errors, translated

__all__ = ["TorchConn", "source_items"]

T = TypeVar("T")


class TorchConn(Conn):
    """A :class:`Conn` whose errors leave as SDK-compatible classes."""

    __slots__ = ()

    def call(self, fn: Callable[[AsyncClient], Awaitable[T]]) -> T:
        with sdk_errors():
            return super().call(fn)

    def wait(self, future: concurrent.futures.Future[T]) -> T:
        with sdk_errors():
            return super().wait(future)

    def iterate(self, fn: Callable[[AsyncClient], AsyncIterator[T]]) -> Generator[T, None, None]:
        return translated(super().iterate(fn))

    def run_short_lived(self, fn: Callable[[AsyncClient], Awaitable[T]]) -> T:
        with sdk_errors():
            return super().run_short_lived(fn)


def source_items(ais_source_list: Any, prefix_map: Any = None) -> list[Any]:
    """The individual sources a user passed (for finding the cluster SDK objects belong to)."""
    if ais_source_list is None:
        items: list[Any] = []
    elif isinstance(ais_source_list, list | tuple | set | frozenset):
        items = list(ais_source_list)
    else:
        items = [ais_source_list]
    return items + list((prefix_map or {}).keys())

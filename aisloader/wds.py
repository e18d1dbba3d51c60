"""webdataset reads ``ais://`` shards through aisloader instead of the ``ais`` CLI.

webdataset opens every shard URL with ``webdataset.gopen.gopen``, which picks a handler by the
URL's scheme in its ``gopen_schemes`` table; for ``ais`` that handler runs ``ais get URL -`` in a
subprocess. :func:`register` puts :class:`AISOpener` there instead: each shard is one GET on this
process's shared client, streamed through the bounded bridge (at most about
``2 × bridge_queue × chunk_size`` bytes read ahead, never the whole shard), a body cut short is
resumed where it stopped (a ``Range`` for the rest), and a missing shard raises
:class:`~aisloader.errors.ObjectNotFound` when it is opened, where webdataset's ``handler=``
policy (``warn_and_continue``...) sees it.

**Workers.** ``gopen_schemes`` is a global of each process. A forked DataLoader worker inherits
the parent's registration; a spawned or forkserver one starts with webdataset's own table.
:func:`attach` makes a pipeline carry the registration itself: it inserts a pass-through stage
after the pipeline's URL source that calls :func:`register` in whichever process iterates the
pipeline, before the first shard is opened — the stage is pickled with the dataset, so every
start method and every loader (torch ``DataLoader``, ``WebLoader``, none) gets it.

``ais://`` means one cluster per process: the latest registration wins. Sync layer: this module
imports neither webdataset nor torch until :func:`register` or :func:`attach` is called.
"""

from __future__ import annotations

import importlib
import io
import os
import weakref
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from aisloader.bridge import runtime
from aisloader.bridge.conn import Conn
from aisloader.config import ClientConfig, endpoint_from_env
from aisloader.errors import ConfigError
from aisloader.refs import ObjectRef, as_ref

__all__ = ["AISOpener", "attach", "register"]

P = TypeVar("P")


@dataclass(frozen=True)
class AISOpener:
    """A webdataset ``gopen`` handler that reads AIS objects through aisloader (picklable).

    Args:
        endpoint: proxy URL; defaults to ``$AIS_ENDPOINT`` of the process that opens a shard.
        config: every knob; defaults to ``ClientConfig.from_env()`` there.
    """

    endpoint: str | None = None
    config: ClientConfig | None = None

    def __call__(
        self, url: str, mode: str = "rb", bufsize: int = 8192, **kw: object
    ) -> io.BufferedReader:
        """Open ``url`` (``ais://bucket/object``) for streaming; ``kw`` is what gopen passes on.

        Returns:
            A binary file: ``read``/``readinto``/``tell``; ``close()`` (or dropping it)
            releases the connection.

        Raises:
            ConfigError: not mode ``"rb"``, not an object URL, or no endpoint.
            ObjectNotFound: no such object (also BucketNotFound, AccessDenied...).
            AISError, TransportError: the cluster refused, or the network failed after retries.
        """
        if mode != "rb":
            raise ConfigError(
                f"{url}: aisloader.wds opens AIS objects for reading only (mode 'rb', got "
                f"{mode!r}); write the shard to a local file and put it with aisloader.Client.put"
            )
        try:
            ref = as_ref(url)
        except ValueError as exc:
            raise ConfigError(f"webdataset asked aisloader to open {exc}") from None
        conn = Conn(self.endpoint, self.config, None)
        chunks = conn.iterate(lambda client: client.get_stream(ref))
        return io.BufferedReader(_ObjectFile(ref, chunks), buffer_size=max(bufsize, 1))


class _ObjectFile(io.RawIOBase):
    """One object's body as a raw binary file over a bridged iterator of chunks.

    The first chunk is read when the file is made, so a missing object fails at open. Closing
    (or garbage collection) closes the iterator, which releases the connection before it
    returns. A file inherited through fork belongs to the parent's loop thread: in the child
    it refuses to read, and its iterator is abandoned (:func:`_after_fork_in_child`), never
    closed or finalized there.
    """

    def __init__(self, ref: ObjectRef, chunks: Generator[bytes, None, None]) -> None:
        super().__init__()
        self._ref = ref
        self._pid = os.getpid()
        self._pos = 0
        self._chunks: Generator[bytes, None, None] | None = chunks
        self._left = memoryview(b"")
        _OPEN.add(self)
        self._next()

    @property
    def name(self) -> str:
        return self._ref.uri

    def __repr__(self) -> str:
        return f"<aisloader.wds object {self._ref.uri} at byte {self._pos}>"

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:
        if self._pid != os.getpid():
            raise ConfigError(
                f"{self._ref.uri} was opened in process {self._pid}, before a fork; "
                f"open it again in this process (webdataset.gopen)"
            )
        view = memoryview(buffer).cast("B")
        while not self._left and self._chunks is not None:
            self._next()
        n = min(len(view), len(self._left))
        view[:n] = self._left[:n]
        self._left = self._left[n:]
        self._pos += n
        return n

    def _next(self) -> None:
        assert self._chunks is not None
        try:
            self._left = memoryview(next(self._chunks))
        except StopIteration:  # the body is complete; the connection went back to the pool
            self._chunks = None
        except BaseException:
            self._chunks = None  # the bridged iterator has ended and cleaned up
            raise

    def _abandon(self) -> None:
        chunks, self._chunks = self._chunks, None
        if chunks is not None:
            runtime.abandon(chunks)  # kept alive: nothing here may finalize it

    def close(self) -> None:
        self._left = memoryview(b"")
        if self._pid != os.getpid():
            self._abandon()
        elif self._chunks is not None:
            chunks, self._chunks = self._chunks, None
            chunks.close()  # cancels the read and waits until the response is released
        super().close()


_OPEN: weakref.WeakSet[_ObjectFile] = weakref.WeakSet()
"""Files of this process not yet garbage-collected (closed or not)."""


def _after_fork_in_child() -> None:
    """Abandon the iterators of files inherited from the parent, unreachable ones included:
    finalizing one here (close, or the garbage collector collecting a cycle that held it)
    would wait forever on the parent's loop thread, which does not exist in the child."""
    for f in list(_OPEN):
        f._abandon()


os.register_at_fork(after_in_child=_after_fork_in_child)


def register(endpoint: str | None = None, config: ClientConfig | None = None) -> AISOpener:
    """Make webdataset open ``ais://`` URLs (and every scheme webdataset maps to the ``ais``
    CLI, e.g. through ``USE_AIS_FOR``) with aisloader, in this process and the processes it
    forks after this call. Idempotent; a later call with other settings replaces this one.

    Args:
        endpoint: proxy URL; defaults to ``$AIS_ENDPOINT`` where a shard is opened.
        config: every knob; defaults to ``ClientConfig.from_env()`` there.

    Returns:
        The installed handler.

    Raises:
        ConfigError: ``endpoint`` is not an http(s) URL.
        ImportError: webdataset is not installed.
    """
    opener = AISOpener(_checked(endpoint), config)
    gopen = importlib.import_module("webdataset.gopen")  # `webdataset.gopen` is the function
    schemes: dict[str, Any] = gopen.gopen_schemes
    ours = {"ais"} | {
        scheme
        for scheme, handler in schemes.items()
        if handler is gopen.gopen_ais or isinstance(handler, AISOpener)
    }
    for scheme in ours:
        if schemes.get(scheme) != opener:
            schemes[scheme] = opener
    installed: AISOpener = schemes["ais"]
    return installed


@dataclass(frozen=True)
class _Register:
    """Pipeline stage: :func:`register` in the process that iterates; items pass unchanged."""

    endpoint: str | None
    config: ClientConfig | None

    def __call__(self, source: Iterable[Any]) -> Iterable[Any]:
        register(self.endpoint, self.config)
        return source


def attach(pipeline: P, endpoint: str | None = None, config: ClientConfig | None = None) -> P:
    """Make ``pipeline`` (a ``webdataset.WebDataset`` or ``DataPipeline``) open ``ais://``
    URLs through aisloader in every process that iterates it: this one, and DataLoader workers
    of every start method (the stage travels with the pickled dataset). Attaching again
    replaces the settings.

    Args:
        pipeline: modified in place, and returned.
        endpoint: proxy URL; defaults to ``$AIS_ENDPOINT`` where a shard is opened.
        config: every knob; defaults to ``ClientConfig.from_env()`` there.

    Returns:
        ``pipeline``.

    Raises:
        ConfigError: ``pipeline`` is not a webdataset pipeline with a URL source, or
            ``endpoint`` is not an http(s) URL.
    """
    stages = getattr(pipeline, "pipeline", None)
    if not isinstance(stages, list) or not stages:
        raise ConfigError(
            f"aisloader.wds.attach takes a webdataset.WebDataset or DataPipeline with a URL "
            f"source as its first stage, got {type(pipeline).__name__}"
        )
    stages[:] = [s for s in stages if not isinstance(s, _Register)]
    stages.insert(1, _Register(_checked(endpoint), config))
    return pipeline


def _checked(endpoint: str | None) -> str | None:
    """``endpoint`` normalised, or None (``$AIS_ENDPOINT`` where a shard is opened)."""
    return endpoint_from_env(endpoint) if endpoint else None

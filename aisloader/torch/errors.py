"""Errors that leave ``aisloader.torch`` also match the official SDK's ``except`` clauses.

Code written against ``aistore.pytorch`` catches ``aistore.sdk.errors.AISError``,
``ErrObjNotFound``, ``ErrBckNotFound``... When the ``aistore`` SDK is importable, every
:class:`~aisloader.errors.AISError` (and :class:`~aisloader.errors.TransportError`) raised by a
dataset of this package is re-raised as a class of this module that inherits from **both** our
class (same name, same fields: ``status``, ``tcode``, ``url``, ``message``) and the matching SDK
class (``status_code``, ``message``, ``req_url`` set too), so old and new ``except`` clauses
both work. Without the SDK nothing is translated. A
:class:`~aisloader.errors.ShardFormatError` is also a ``tarfile.TarError`` (what the plugin's
shard reader raised), SDK or not. The classes live at module level so they
pickle by name across DataLoader worker processes, and they keep every field through torch's
worker re-raise (``exc_type(text)``) as ours do: the text is the record (:mod:`aisloader.errors`).
"""

from __future__ import annotations

import contextlib
import tarfile
from collections.abc import Generator, Iterator
from typing import Any

from aisloader import errors as ours

__all__ = ["as_sdk_error", "sdk_errors", "translated"]

_COMPAT: dict[type[BaseException], Any] = {}  # our class -> its SDK-compatible class


def _make_classes() -> None:
    # A corrupt shard is also what the plugin raised for one (stdlib, so always).
    name = "ShardFormatError"
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name}
    shard_bases = (ours.ShardFormatError, tarfile.TarError)
    _COMPAT[ours.ShardFormatError] = globals()[name] = type(name, shard_bases, namespace)
    try:
        import requests
        from aistore.sdk import errors as sdk
    except ImportError:  # no SDK: our classes are all there is
        return
    specific: dict[type[ours.AISError], type[Exception]] = {
        ours.ObjectNotFound: sdk.ErrObjNotFound,
        ours.BucketNotFound: sdk.ErrBckNotFound,
        ours.BucketAlreadyExists: sdk.ErrBckAlreadyExists,
        ours.ETLNotFound: sdk.ErrETLNotFound,
    }
    for name in ours.__all__:
        cls = getattr(ours, name)
        if isinstance(cls, type) and issubclass(cls, ours.AISError):
            base = specific.get(cls, sdk.AISError)
            namespace = {"__init__": _init_ais, "__module__": __name__, "__qualname__": name}
            _COMPAT[cls] = globals()[name] = type(name, (cls, base), namespace)
    transport = {
        "__init__": _init_transport,
        "__module__": __name__,
        "__qualname__": "TransportError",
    }
    bases = (ours.TransportError, requests.exceptions.ConnectionError)
    _COMPAT[ours.TransportError] = globals()["TransportError"] = type(
        "TransportError", bases, transport
    )


def _init_ais(
    self: Any, status: int | str, tcode: str = "", url: str = "", message: str = ""
) -> None:
    """Our fields and text (a bare text is parsed back), plus the SDK's ``status_code``,
    ``message``, ``req_url`` and ``req``; the SDK's ``__init__`` is skipped (it wants a
    request)."""
    Exception.__init__(self, self._setup(status, tcode, url, message))
    self.status_code, self.req_url, self.req = self.status, self.url, None


def _init_transport(self: Any, message: str, *, url: str = "", attempts: int = 0) -> None:
    """Our fields and text; requests' ``__init__`` (request/response) is skipped."""
    Exception.__init__(self, self._setup(message, url, attempts))
    self.request = self.response = None


def as_sdk_error(exc: BaseException) -> BaseException:
    """``exc`` as its SDK-compatible class (itself when there is none, or no SDK)."""
    if type(exc).__module__ == __name__:
        return exc  # already SDK-compatible
    for cls in type(exc).__mro__:
        compat = _COMPAT.get(cls)
        if compat is None:
            continue
        out: BaseException
        if isinstance(exc, ours.AISError):
            out = compat(exc.status, exc.tcode, exc.url, exc.message)
        elif isinstance(exc, ours.TransportError):
            out = compat(exc.message, url=exc.url, attempts=exc.attempts)
        elif isinstance(exc, ours.ShardFormatError):
            out = compat(exc.shard, exc.offset, exc.reason)
        else:  # pragma: no cover - only the two families are mapped
            return exc
        for note in getattr(exc, "__notes__", ()):
            out.add_note(note)
        out.__cause__, out.__suppress_context__ = exc.__cause__, exc.__suppress_context__
        return out.with_traceback(exc.__traceback__)
    return exc


@contextlib.contextmanager
def sdk_errors() -> Iterator[None]:
    """Re-raise our errors as their SDK-compatible classes (see module docs)."""
    try:
        yield
    except (ours.AISError, ours.TransportError, ours.ShardFormatError) as exc:
        compat = as_sdk_error(exc)
        if compat is exc:
            raise
        raise compat from exc.__cause__


def translated(items: Generator[Any, None, None]) -> Generator[Any, None, None]:
    """``items`` with errors re-raised as their SDK-compatible classes; closing it closes
    ``items``."""
    try:
        with sdk_errors():
            yield from items
    finally:
        items.close()


_make_classes()

"""Inline ETL: the named transforms a target applies to ``GET ...?etl_name=NAME[&etl_args=ARGS]``.

AIS runs ETLs in containers the cluster starts; the embedded cluster runs plain Python functions
``fn(data, etl_args) -> bytes`` instead. `EtlRegistry` holds them (one per cluster, shared by all
its nodes, safe to change from any thread while the cluster serves). Built-ins on every cluster:

    echo     the input, unchanged
    upper    ``data.upper()`` (ASCII letters)
    md5      the lowercase hex MD5 of the input, as ASCII bytes
    prefix   ``etl_args.encode() + data``; needs ``etl_args`` (none: `EtlArgsError`, a 400)

No aiohttp here: `aisloader.server.nodes.etl` turns lookups and failures into AIS answers.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable

__all__ = [
    "BUILTIN_ETLS",
    "ETL_NAME_RULE",
    "EtlArgsError",
    "EtlFn",
    "EtlRegistry",
    "validate_etl_name",
]

EtlFn = Callable[[bytes, str | None], bytes]
"""``fn(data, etl_args)``: the whole object (or archive member) and the raw ``etl_args``."""

ETL_NAME_RULE = "[a-z0-9][a-z0-9-]{0,31}"
"""ETL names: 1 to 32 of ``a-z 0-9 -``, not starting with ``-``.

AIS itself (``k8s.ValidateEtlName``) allows ``[a-z0-9-]`` with 6 to 32 characters; the minimum
is relaxed here so that the short built-in names (``md5``, ``echo``) are valid.
"""
_NAME_RE = re.compile(ETL_NAME_RULE)


class EtlArgsError(ValueError):
    """Raised by an ETL function whose ``etl_args`` are missing or invalid: answered with 400
    (any other exception from an ETL function is answered with 500)."""


def validate_etl_name(name: str) -> None:
    """Check ``name`` against `ETL_NAME_RULE`.

    Raises:
        ValueError: when ``name`` is empty or does not match the rule.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid ETL name {name!r}: expected 1 to 32 characters of [a-z0-9-], "
            "not starting with '-'"
        )


def _echo(data: bytes, args: str | None) -> bytes:
    return data


def _upper(data: bytes, args: str | None) -> bytes:
    return data.upper()


def _md5(data: bytes, args: str | None) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).hexdigest().encode("ascii")


def _prefix(data: bytes, args: str | None) -> bytes:
    if not args:
        raise EtlArgsError("the prefix ETL needs etl_args (the prefix to prepend)")
    return args.encode() + data


BUILTIN_ETLS: dict[str, EtlFn] = {"echo": _echo, "upper": _upper, "md5": _md5, "prefix": _prefix}
"""The ETLs every new registry starts with."""


class EtlRegistry:
    """Named ETL functions, shared by the nodes of one cluster; every method is thread-safe.

    The functions themselves run in worker threads, possibly several at once: they must be
    thread-safe too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fns: dict[str, EtlFn] = dict(BUILTIN_ETLS)

    def register(self, name: str, fn: EtlFn) -> None:
        """Add ``fn`` under ``name``.

        Raises:
            ValueError: for an invalid name (`validate_etl_name`) or one already registered.
            TypeError: when ``fn`` is not callable.
        """
        validate_etl_name(name)
        if not callable(fn):
            raise TypeError(f"ETL {name!r}: expected a callable fn(data, etl_args), got {fn!r}")
        with self._lock:
            if name in self._fns:
                raise ValueError(f"ETL {name!r} is already registered (unregister it first)")
            self._fns[name] = fn

    def unregister(self, name: str) -> None:
        """Remove the ETL ``name`` (built-ins included).

        Raises:
            KeyError: when no ETL of that name is registered.
        """
        with self._lock:
            if self._fns.pop(name, None) is None:
                raise KeyError(f"ETL {name!r} is not registered")

    def get(self, name: str) -> EtlFn | None:
        """The function registered as ``name``, or None."""
        with self._lock:
            return self._fns.get(name)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        with self._lock:
            return sorted(self._fns)

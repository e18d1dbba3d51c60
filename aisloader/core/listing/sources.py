"""Dataset sources: what to read, normalised once (pure; :mod:`.lister` lists them).

Accepted anywhere a dataset takes sources (``ais_source_list``): an ``ais://bucket[/prefix]``
string, a :class:`~aisloader.refs.Bucket`, an :class:`ObjectList` (explicit names), an official
SDK ``Bucket``, ``ObjectGroup`` or ``DataShard`` (duck-typed, so migrating code can keep its
objects), or a list of those. ``prefix_map`` maps a source to one prefix or a list of
prefixes, as in the official plugin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aisloader.errors import ConfigError
from aisloader.refs import Bucket, parse_source_url

__all__ = [
    "SHARD_SUFFIXES",
    "ObjectList",
    "Source",
    "data_shard_source",
    "is_shard",
    "nothing_matched",
    "sources",
]

SHARD_SUFFIXES = (".tar", ".tgz", ".tar.gz")


def is_shard(name: str) -> bool:
    """True for names ending in a streamable tar suffix."""
    return name.lower().endswith(SHARD_SUFFIXES)


@dataclass(frozen=True, slots=True)
class ObjectList:
    """An explicit list of object names in one bucket (no listing call is made)."""

    bucket: Bucket | str
    names: tuple[str, ...]

    def __init__(self, bucket: Bucket | str, names: Iterable[str]) -> None:
        object.__setattr__(self, "bucket", bucket)
        object.__setattr__(self, "names", tuple(names))


@dataclass(frozen=True, slots=True)
class Source:
    """One normalised source: a bucket and either prefixes to list or explicit names."""

    bucket: Bucket
    prefixes: tuple[str, ...] = ("",)
    names: tuple[str, ...] | None = None

    @property
    def uri(self) -> str:
        """Human-readable description used in error messages."""
        if self.names is not None:
            return f"{self.bucket.uri} ({len(self.names)} listed names)"
        shown = [f"{self.bucket.uri}/{p}" if p else self.bucket.uri for p in self.prefixes]
        return ", ".join(shown)


def sources(
    ais_source_list: Any, prefix_map: Mapping[Any, str | Sequence[str] | None] | None = None
) -> tuple[Source, ...]:
    """Normalise user sources (see module docstring) into :class:`Source` values.

    Raises:
        ConfigError: no source given, or a source of an unknown kind / malformed URL.
    """
    items = _as_list(ais_source_list)
    if not items:
        raise ConfigError(
            "empty source list: pass 'ais://bucket[/prefix]', a Bucket, or a list of them"
        )
    prefix_map = prefix_map or {}
    out = []
    for item in items:
        source = _one(item)
        extra = prefix_map.get(item) if _hashable(item) else None
        if extra is not None and source.names is None:
            prefixes = (extra,) if isinstance(extra, str) else tuple(extra)
            if not prefixes:
                raise ConfigError(f"prefix_map gives an empty prefix list for {source.uri}")
            combined = tuple(base + more for base in source.prefixes for more in prefixes)
            source = Source(source.bucket, combined)
        out.append(source)
    return tuple(out)


def nothing_matched(srcs: Sequence[Source]) -> str:
    """The message for sources that matched no object."""
    where = "; ".join(s.uri for s in srcs)
    return f"no objects match {where}: check the bucket and prefix (an empty epoch is an error)"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | Bucket | ObjectList | Source) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _one(item: Any) -> Source:
    if isinstance(item, Source):
        return item
    if isinstance(item, str):
        try:
            bucket, prefix = parse_source_url(item)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return Source(bucket, (prefix,))
    if isinstance(item, Bucket):
        return Source(item)
    if isinstance(item, ObjectList):
        bucket = Bucket(item.bucket) if isinstance(item.bucket, str) else item.bucket
        if not item.names:
            raise ConfigError(f"ObjectList for {bucket.uri} holds no names")
        return Source(bucket, names=item.names)
    return _from_sdk(item)


def _from_sdk(item: Any) -> Source:
    """Accept the official SDK's ``Bucket``, ``ObjectGroup`` and ``DataShard`` (duck-typed)."""
    if getattr(item, "bucket_name", None) is not None:
        return _from_data_shard(item)
    bck = getattr(item, "bck", None)
    if bck is not None and hasattr(item, "list_names"):
        return Source(_sdk_bucket(bck), names=tuple(item.list_names()))
    if hasattr(item, "name") and hasattr(item, "provider"):
        return Source(_sdk_bucket(item))
    raise ConfigError(
        f"unsupported source {item!r}: use 'ais://bucket[/prefix]', aisloader.Bucket, "
        "ObjectList, or an aistore SDK Bucket/ObjectGroup"
    )


def _from_data_shard(ds: Any) -> Source:
    """The SDK's ``DataShard`` (``bucket_name``, ``provider``, ``prefix``) as a source."""
    if getattr(ds, "etl_name", None):
        raise ConfigError(
            f"{ds!r} names etl_name={ds.etl_name!r}: pass it to AISMultiShardStream, or give the "
            "dataset etl_name= (a source here cannot carry its own ETL)"
        )
    return data_shard_source(ds)


def data_shard_source(ds: Any) -> Source:
    """An SDK ``DataShard`` as a source, its ``etl_name`` left to the caller.

    Raises:
        ConfigError: a bad bucket name or provider.
    """
    provider = getattr(ds, "provider", None) or "ais"
    try:  # the SDK's DataShard holds a Provider enum: take its value
        bucket = Bucket(ds.bucket_name, str(getattr(provider, "value", provider)))
    except ValueError as exc:
        raise ConfigError(f"{ds!r}: {exc}") from None
    return Source(bucket, (getattr(ds, "prefix", "") or "",))


def _sdk_bucket(bck: Any) -> Bucket:
    provider = getattr(bck.provider, "value", bck.provider)
    namespace = getattr(bck, "namespace", None)
    ns_text = "" if namespace is None else _sdk_namespace(namespace)
    return Bucket(bck.name, str(provider), ns_text)


def _sdk_namespace(namespace: Any) -> str:
    uuid, name = getattr(namespace, "uuid", ""), getattr(namespace, "name", "")
    return f"@{uuid}#{name}" if (uuid or name) else ""


def _hashable(item: Any) -> bool:
    try:
        hash(item)
    except TypeError:
        return False
    return True

"""The policies of a shard stream and what it skipped (plain data, picklable)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from aisloader.errors import ConfigError

__all__ = ["ShardOptions", "ShardStats"]


@dataclass(frozen=True)
class ShardOptions:
    """Policies of a shard stream (all picklable).

    Raises:
        ConfigError: an unknown policy value or a negative buffer size.

    Attributes:
        other_objects: objects without a ``.tar``/``.tgz``/``.tar.gz`` name under the prefix:
            ``"skip"`` them (logged, and listed in :attr:`ShardStream.stats`), ``"error"``, or
            ``"read"`` them as tar shards too (a non-tar then raises ``ShardFormatError``).
        on_corrupt: ``"error"`` raises ShardFormatError; ``"skip"`` counts and skips the shard.
        on_duplicate: a repeated extension within a sample: ``"error"`` or ``"skip"``.
        missing: when ``expected`` is set: ``"error"``, ``"skip"`` the sample, or ``"empty"``.
        expected: extensions every sample must have (e.g. ``{"jpg", "cls"}``), or None.
        shuffle_buffer: samples held for the sample shuffle (0 = no sample shuffle).
        shuffle_bytes: bytes held for the sample shuffle (None = config default).
        deterministic: take samples round-robin across in-flight shards (reproducible order).
        sequential: every sample of a shard before the next shard's (the listing order, as the
            official reader yields), the next shards still read ahead into bounded queues.
        pad_missing: give every sample every extension seen so far in this stream (``b""``
            where it has none), as the official reader's ``ZeroDict`` does so that torch's
            default collate sees the same keys; each shard's member names are listed (one
            archive listing per shard) before its samples, so a sample is padded with the
            extensions of its whole shard.
    """

    other_objects: Literal["skip", "error", "read"] = "skip"
    on_corrupt: Literal["error", "skip"] = "error"
    on_duplicate: Literal["error", "skip"] = "error"
    missing: Literal["error", "skip", "empty"] = "error"
    expected: Collection[str] | None = None
    shuffle_buffer: int = 0
    shuffle_bytes: int | None = None
    deterministic: bool = False
    sequential: bool = False
    pad_missing: bool = False

    def __post_init__(self) -> None:
        for name, allowed in _POLICIES.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if isinstance(self.expected, str):
            raise ConfigError("expected must be a collection of extensions, not one string")
        if self.shuffle_buffer < 0 or (self.shuffle_bytes is not None and self.shuffle_bytes < 0):
            raise ConfigError("shuffle_buffer and shuffle_bytes must be >= 0")


_POLICIES = {
    "other_objects": ("skip", "error", "read"),
    "on_corrupt": ("error", "skip"),
    "on_duplicate": ("error", "skip"),
    "missing": ("error", "skip", "empty"),
}


@dataclass
class ShardStats:
    """What a stream skipped, for the skip policies' report."""

    shards: int = 0
    samples: int = 0
    skipped_objects: list[str] = field(default_factory=list)
    corrupt_shards: list[str] = field(default_factory=list)

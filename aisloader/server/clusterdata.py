"""`ClusterData`: the thread-safe direct API of `LocalCluster` (buckets, objects, checksum
types, faults, ETL, counters), which acts on the shared state without going through HTTP."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aisloader.server.faults import Fault
from aisloader.server.names import BucketId, parse_bucket
from aisloader.server.nodes.state import Shared

__all__ = ["ClusterData"]


class ClusterData:
    """What a test or benchmark does to the cluster's data directly (thread-safe)."""

    _shared: Shared

    def create_bucket(self, name: str, provider: str = "ais") -> None:
        """Create a bucket directly (thread-safe; no error when it exists).

        Raises:
            ValueError: for an invalid bucket name or provider.
        """
        self._shared.store.create_bucket(_bucket(name, provider))

    def put_object(self, bucket: str, name: str, data: bytes, provider: str = "ais") -> None:
        """Write an object straight to storage, creating the bucket (thread-safe).

        Raises:
            ValueError: for an invalid bucket or object name, or a name conflict.
        """
        b = _bucket(bucket, provider)
        store = self._shared.store
        store.create_bucket(b)
        try:
            store.put_bytes(b, name, data)
        except Exception as e:
            raise ValueError(str(e)) from e

    def set_checksum_type(self, bucket: str, kind: str, provider: str = "ais") -> None:
        """Make ``bucket`` (created if missing) report ``kind`` checksums from now on:
        ``xxhash`` (the default) or ``crc32c``.

        Raises:
            ValueError: for an invalid bucket name or an unknown ``kind``.
        """
        b = _bucket(bucket, provider)
        self._shared.store.create_bucket(b)
        self._shared.store.set_checksum_type(b, kind)

    def set_faults(self, faults: Sequence[Fault], seed: int = 0) -> None:
        """Replace the fault rules (thread-safe; takes effect for the next request)."""
        self._shared.faults.set(faults, seed)

    def clear_faults(self) -> None:
        """Remove all fault rules."""
        self._shared.faults.clear()

    def register_etl(self, name: str, fn: Callable[[bytes, str | None], bytes]) -> None:
        """Register ``fn`` as the ETL ``name`` on every node (thread-safe, also while serving).

        ``fn(data, etl_args)`` gets the whole object (or archive member) and the raw
        ``etl_args`` query value (None when absent) and returns the bytes to send. It runs in a
        worker thread, possibly several calls at once. Raising
        `aisloader.server.EtlArgsError` answers 400; any other exception answers 500.

        Names are 1 to 32 characters of ``[a-z0-9-]``, not starting with ``-`` (AIS also
        wants at least 6; the built-ins ``echo``, ``upper``, ``md5``, ``prefix`` are shorter).

        Raises:
            ValueError: for an invalid name, or one already registered (built-ins included).
            TypeError: when ``fn`` is not callable.
        """
        self._shared.etls.register(name, fn)

    def unregister_etl(self, name: str) -> None:
        """Remove the ETL ``name`` (a built-in too); GETs naming it then answer 404.

        Raises:
            KeyError: when no ETL of that name is registered.
        """
        self._shared.etls.unregister(name)

    def stats(self) -> dict[str, int]:
        """Counters: ``{role}.{METHOD}`` requests, ``proxy.redirects``, ``faults.{kind}``,
        ``etl.calls`` (transforms applied) and ``etl.errors`` (ETL calls that failed)."""
        out = {"etl.calls": 0, "etl.errors": 0} | self._shared.stats.snapshot()
        snap = self._shared.faults.snapshot()
        out |= {f"faults.{k}": v for k, v in snap["injected_by_kind"].items()}
        return out


def _bucket(name: str, provider: str) -> BucketId:
    try:
        return parse_bucket(name, provider)
    except Exception as e:
        raise ValueError(str(e)) from e

"""What official ``aistore`` SDK objects say about their cluster (pure; duck-typed, no import).

Code migrating from ``aistore.pytorch`` builds datasets from SDK objects —
``Client(url).bucket("b")``, ``bucket.objects(obj_names=...)``, ``DataShard(url, ...)``, or
passes an SDK ``Client``. Each carries its cluster: the endpoint, the AuthN token, the TLS
settings (CA bundle, client certificate, skip-verify) and the timeouts. :func:`cluster_of`
reads them, so a dataset reads the cluster its sources belong to — not ``AIS_ENDPOINT`` — with
the same credentials; :func:`cluster_of_sources` makes sure all sources agree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aisloader.config import ClientConfig
from aisloader.errors import ConfigError

__all__ = ["SdkCluster", "cluster_of", "cluster_of_sources"]


@dataclass(frozen=True)
class SdkCluster:
    """One cluster as an SDK object describes it (the token is never shown in reprs)."""

    endpoint: str
    token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    skip_verify: bool = False
    connect_timeout: float | None = None
    read_timeout: float | None = None

    def config(self, base: ClientConfig) -> ClientConfig:
        """``base`` with this cluster's credentials, TLS settings and timeouts.

        Raises:
            ConfigError: the SDK's settings are not valid for aisloader.
        """
        changes: dict[str, Any] = {"skip_verify": self.skip_verify or base.skip_verify}
        for name in ("token", "ca_bundle", "client_cert", "client_key"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.token is not None:  # the SDK read $AIS_AUTHN_TOKEN itself: keep it out of pickles
            changes["token_from_env"] = self.token == os.environ.get("AIS_AUTHN_TOKEN")
        if self.connect_timeout is not None:
            changes["connect_timeout"] = self.connect_timeout
        if self.read_timeout is not None:
            changes["read_timeout"] = self.read_timeout
        return base.replace(**changes)


def cluster_of(obj: Any) -> SdkCluster | None:
    """The cluster of an SDK ``Client``, ``Bucket``, ``ObjectGroup``, ``Object`` or
    ``DataShard`` (None for anything else, aisloader's own objects included)."""
    request_client = _request_client(obj)
    if request_client is None:
        url = getattr(obj, "client_url", None)  # a DataShard made without a live client
        return SdkCluster(_endpoint(url)) if isinstance(url, str) and url else None
    base = getattr(request_client, "base_url", None)
    if not isinstance(base, str) or not base:
        return None
    sessions = getattr(request_client, "session_manager", None)
    cert, key = _client_cert(getattr(sessions, "client_cert", None))
    connect, read = _timeouts(getattr(request_client, "timeout", None))
    return SdkCluster(
        endpoint=_endpoint(base),
        token=getattr(request_client, "token", None) or None,
        ca_bundle=getattr(sessions, "ca_cert", None) or None,
        client_cert=cert,
        client_key=key,
        skip_verify=bool(getattr(sessions, "skip_verify", False)),
        connect_timeout=connect,
        read_timeout=read,
    )


def cluster_of_sources(items: Iterable[Any]) -> SdkCluster | None:
    """The one cluster the SDK objects among ``items`` belong to (None when there are none).

    Raises:
        ConfigError: the SDK objects belong to two different clusters.
    """
    found: SdkCluster | None = None
    for item in items:
        cluster = cluster_of(item)
        if cluster is None:
            continue
        if found is not None and cluster.endpoint != found.endpoint:
            raise ConfigError(
                f"sources from two clusters in one dataset: {found.endpoint} and "
                f"{cluster.endpoint}; make one dataset per cluster (or pass endpoint=)"
            )
        found = found or cluster
    return found


def _request_client(obj: Any) -> Any:
    """The SDK ``RequestClient`` behind ``obj``, or None."""
    if hasattr(obj, "_request_client"):  # aistore.sdk.Client
        return obj._request_client
    for owner in (obj, getattr(obj, "bck", None), getattr(obj, "bucket", None)):
        client = getattr(owner, "client", None) if owner is not None else None
        if client is not None and hasattr(client, "base_url"):  # Bucket / ObjectGroup / DataShard
            return client
        inner = getattr(owner, "_client", None) if owner is not None else None
        if inner is not None and hasattr(inner, "base_url"):  # Object
            return inner
    client = getattr(obj, "client", None)  # DataShard: an SDK Client
    if client is not None and hasattr(client, "_request_client"):
        return client._request_client
    return None


def _endpoint(url: str) -> str:
    return url.rstrip("/").removesuffix("/v1").rstrip("/")


def _client_cert(value: Any) -> tuple[str | None, str | None]:
    if isinstance(value, tuple | list) and len(value) == 2:
        return str(value[0]), str(value[1])
    if isinstance(value, str) and value:  # one PEM file holding both
        return value, value
    return None, None


def _timeouts(value: Any) -> tuple[float | None, float | None]:
    """The SDK's timeout: one number for both, a (connect, read) pair, or None (no limit)."""
    if value is None:
        return None, None
    if isinstance(value, tuple | list) and len(value) == 2:
        return float(value[0] or 0), float(value[1] or 0)
    if isinstance(value, int | float):
        return float(value), float(value)
    return None, None

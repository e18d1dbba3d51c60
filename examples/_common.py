"""Shared by the examples: use $AIS_ENDPOINT, or start an embedded cluster for the run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from aisloader.server import LocalCluster


@contextlib.contextmanager
def endpoint() -> Iterator[tuple[str, LocalCluster | None]]:
    """Yield ``(endpoint, cluster)``; ``cluster`` is None when AIS_ENDPOINT is set."""
    if os.environ.get("AIS_ENDPOINT"):
        yield os.environ["AIS_ENDPOINT"], None
        return
    with LocalCluster(targets=2) as cluster:
        print(f"started an embedded AIS cluster at {cluster.endpoint}")
        yield cluster.endpoint, cluster

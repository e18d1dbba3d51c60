"""An embedded AIS-compatible cluster (one proxy, N targets) for tests, examples and benchmarks.

It speaks the AIS REST API as described in the protocol doc, closely enough for the official
``aistore`` SDK, and injects deterministic faults on request. It imports nothing from the rest
of aisloader, so a client bug is never mirrored by the server that tests it.
"""

from __future__ import annotations

from aisloader.server.cluster import LocalCluster
from aisloader.server.faults import Fault

__all__ = ["Fault", "LocalCluster"]

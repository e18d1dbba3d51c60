"""What every node shares: the daemons, the cluster state one event loop holds, the smap.

No aiohttp here: `Shared` is plain state (the store, archive index cache, fault engine, ETL
registry, counters) that the proxy's and the targets' handlers all read.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from aisloader.server import hrw
from aisloader.server.archive import ArchiveIndex
from aisloader.server.etl import EtlRegistry
from aisloader.server.faults import FaultEngine
from aisloader.server.names import BucketId
from aisloader.server.store import Store

__all__ = ["Node", "Shared", "Stats", "snode"]


class Stats:
    """Thread-safe request counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def incr(self, key: str, n: int = 1) -> None:
        """Add ``n`` to counter ``key``."""
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def snapshot(self) -> dict[str, int]:
        """A copy of all counters."""
        with self._lock:
            return dict(self._counts)


@dataclass
class Node:
    """One daemon: its ID, role and (once started) public URL."""

    daemon_id: str
    role: str  # "proxy" or "target"
    url: str = ""

    @property
    def digest(self) -> int:
        """``id_digest`` as sent in the smap."""
        return hrw.digest(self.daemon_id)

    @property
    def label(self) -> str:
        """``p[ID]`` or ``t[ID]`` as AIS error messages name nodes."""
        return f"{self.daemon_id[0]}[{self.daemon_id}]"


@dataclass
class Shared:
    """State shared by the proxy and all targets (one event loop, one store).

    Get-batch keeps its own shared state (`aisloader.server.batch.routing.BatchState`).
    """

    store: Store
    proxy: Node
    targets: list[Node]
    seed: int = 0
    archives: ArchiveIndex = field(default_factory=ArchiveIndex)
    faults: FaultEngine = field(default_factory=FaultEngine)
    etls: EtlRegistry = field(default_factory=EtlRegistry)
    stats: Stats = field(default_factory=Stats)
    started_ns: int = field(default_factory=time.time_ns)
    smap_json: bytes = b"{}"
    auth_token: str | None = field(default=None, repr=False)  # bearer token the proxy wants

    def owner(self, b: BucketId, obj: str) -> Node:
        """The HRW owner of ``obj`` in ``b``."""
        tid = hrw.owner(b.uname(obj), ((t.daemon_id, t.digest) for t in self.targets))
        return next(t for t in self.targets if t.daemon_id == tid)

    def build_smap(self) -> None:
        """Render the smap JSON (section 2.2) once all URLs are known."""
        snodes = {n.daemon_id: snode(n) for n in [self.proxy, *self.targets]}
        smap = {
            "pmap": {self.proxy.daemon_id: snodes[self.proxy.daemon_id]},
            "proxy_si": snodes[self.proxy.daemon_id],
            "tmap": {t.daemon_id: snodes[t.daemon_id] for t in self.targets},
            "uuid": hrw.make_daemon_id("c", self.seed, 0)[1:] + "emu",
            "creation_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.started_ns / 1e9)),
            "version": "3",
        }
        self.smap_json = json.dumps(smap).encode()


def snode(n: Node) -> dict[str, object]:
    """The smap's ``Snode`` of ``n`` (protocol doc 2.2); every network is the public one."""
    host, _, port = n.url.partition("://")[2].rpartition(":")
    net = {"node_ip_addr": host.strip("[]"), "daemon_port": port, "direct_url": n.url}
    return {
        "public_net": net,
        "intra_control_net": dict(net),
        "intra_data_net": dict(net),
        "daemon_type": n.role,
        "daemon_id": n.daemon_id,
        "flags": 0,
        "id_digest": n.digest,
    }

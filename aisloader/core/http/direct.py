"""Direct reads: GET/HEAD straight at the owning target, found with the smap and HRW.

Only on clusters without AuthN or request signing: the target answers 401/403 otherwise, and
the client switches to proxy mode for good. A client that cannot reach the targets' addresses
(two direct attempts in a row failing on the network: in-cluster addresses seen from outside,
or a target down) reads through the proxy for ``refresh_every`` seconds, then tries again. A
request that fails directly on the network is sent through the proxy at once; only a target
that cannot be reached (refused, timed out), not a connection it cut, counts toward proxy mode.

The smap is re-read when it is stale: a target refused or timed out, the proxy redirected a
request for an object to another target than the cached smap names (a 404 from a target
sends the read through the proxy, and its redirect tells), a redirect carries a newer smap
version (``vpams``, on clusters that sign requests), or ``refresh_every`` seconds passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import msgspec
from yarl import URL

from aisloader.core.http import hrw
from aisloader.core.http.wire import Smap, decode_smap
from aisloader.errors import AISLoaderError

__all__ = ["Direct"]

_REFRESH_EVERY = 30.0


class Direct:
    """The cached smap and the owner lookup of one client."""

    def __init__(
        self, load: Callable[[], Awaitable[bytes]], refresh_every: float = _REFRESH_EVERY
    ) -> None:
        self.enabled = True
        self.smap: Smap | None = None
        self.refreshes = 0
        self._load = load
        self._every = refresh_every
        self._loaded_at = 0.0
        self._stale = False
        self._lock: asyncio.Lock | None = None
        self._targets: list[tuple[str, int, int]] = []
        self._urls: dict[str, str] = {}
        self._version = 0
        self._unreachable = 0  # direct attempts in a row that failed on the network
        self._off_until = 0.0  # through the proxy until then (targets unreachable)

    async def target_url(self, uname: str) -> str | None:
        """The base URL of ``uname``'s owner, or None to go through the proxy."""
        if not self.enabled or time.monotonic() < self._off_until:
            return None
        if self.smap is None or self._stale or time.monotonic() - self._loaded_at > self._every:
            await self._refresh()
        tid = hrw.owner(uname, self._targets)
        return self._urls.get(tid) if tid is not None else None

    def failed(self, status: int | None) -> None:
        """A direct request failed with ``status`` (None: on the network): 401/403 switch to
        proxy mode for good; a network failure re-reads the smap, a second one in a row
        reads through the proxy for ``refresh_every`` seconds (module docs); 404 changes
        nothing (the proxy's redirect tells whether the owner moved, see `redirected`)."""
        if status in (401, 403):
            self.enabled = False
        elif status is None:
            self._unreachable += 1
            self._stale = True
            if self._unreachable >= 2:
                self._unreachable = 0
                self._off_until = time.monotonic() + self._every

    def succeeded(self) -> None:
        """A direct request was answered (by a target that is reachable)."""
        self._unreachable = 0

    def redirected(self, uname: str, location: URL) -> None:
        """The proxy sent a request for ``uname`` to ``location``: re-read the smap when that
        is not the owner the cached smap names, or the redirect names a newer smap."""
        if self.smap is None:
            return
        version = location.query.get("vpams", "")
        try:
            newer = bool(version) and int(version, 36) > self._version
        except ValueError:
            newer = False
        tid = hrw.owner(uname, self._targets)
        expected = self._urls.get(tid, "") if tid is not None else ""
        if newer or str(location.origin()) != str(URL(expected).origin() if expected else ""):
            self._stale = True

    def use(self, smap: Smap) -> None:
        """Adopt ``smap`` (also used by tests to point at other nodes)."""
        self.smap = smap
        self._targets = [(t.daemon_id, t.id_digest, t.flags) for t in smap.tmap.values()]
        self._urls = {t.daemon_id: t.public_net.direct_url.rstrip("/") for t in smap.tmap.values()}
        self._version = int(smap.version) if smap.version.isdigit() else 0
        self._loaded_at = time.monotonic()
        self._stale = False

    async def _refresh(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            fresh = time.monotonic() - self._loaded_at <= self._every
            if self.smap is not None and not self._stale and fresh:
                return
            try:
                smap = decode_smap(await self._load())
            except (AISLoaderError, msgspec.DecodeError, msgspec.ValidationError):
                self.enabled = False  # cannot read the map (e.g. AuthN): use the proxy
                return
            self.refreshes += 1
            self.use(smap)

"""Direct reads: GET/HEAD straight at the owning target, found with the smap and HRW.

Only on clusters without AuthN or request signing (the target answers 401/403 otherwise, and
then the client switches to proxy mode for good). A target that refuses, times out or 404s
marks the smap stale; it is also re-read every ``refresh_every`` seconds, so membership
changes are picked up without a per-request check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import msgspec

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

    async def target_url(self, uname: str) -> str | None:
        """The base URL of ``uname``'s owner, or None to go through the proxy."""
        if not self.enabled:
            return None
        if self.smap is None or self._stale or time.monotonic() - self._loaded_at > self._every:
            await self._refresh()
        tid = hrw.owner(uname, self._targets)
        return self._urls.get(tid) if tid is not None else None

    def failed(self, status: int | None) -> None:
        """A direct request failed: 401/403 switch to proxy mode; others re-read the smap."""
        if status in (401, 403):
            self.enabled = False
        else:
            self._stale = True

    def use(self, smap: Smap) -> None:
        """Adopt ``smap`` (also used by tests to point at other nodes)."""
        self.smap = smap
        self._targets = [(t.daemon_id, t.id_digest, t.flags) for t in smap.tmap.values()]
        self._urls = {t.daemon_id: t.public_net.direct_url.rstrip("/") for t in smap.tmap.values()}
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

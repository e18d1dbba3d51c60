"""The sorted name index of one bucket, so paging a large bucket costs O(page), not a walk.

Not thread-safe by itself: `aisloader.server.store.Store` builds one per bucket on the first
listing and holds its lock around every read and every update (PUT and DELETE keep it current).
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BucketIndex", "Entry"]

Entry = tuple[str, int, int]  # (name, size, mtime_ns)


@dataclass
class BucketIndex:
    """Object names in sorted order, with each one's size and mtime."""

    names: list[str]
    info: dict[str, tuple[int, int]]  # name -> (size, mtime_ns)

    @classmethod
    def walk(cls, bdir: Path) -> BucketIndex:
        """Index every regular file under ``bdir``; symlinks are not followed (blocking)."""
        info: dict[str, tuple[int, int]] = {}
        stack = [""]
        while stack:
            rel = stack.pop()
            with os.scandir(bdir / rel if rel else bdir) as it:
                for e in it:
                    name = f"{rel}/{e.name}" if rel else e.name
                    if e.is_dir(follow_symlinks=False):
                        stack.append(name)
                    elif e.is_file(follow_symlinks=False):
                        st = e.stat(follow_symlinks=False)
                        info[name] = (st.st_size, st.st_mtime_ns)
        return cls(sorted(info), info)

    def put(self, name: str, size: int, mtime_ns: int) -> None:
        """Add object ``name`` or update its size and mtime."""
        if name not in self.info:
            bisect.insort(self.names, name)
        self.info[name] = (size, mtime_ns)

    def remove(self, name: str) -> None:
        """Forget object ``name`` (no error when absent)."""
        if self.info.pop(name, None) is not None:
            i = bisect.bisect_left(self.names, name)
            del self.names[i]

    def page(self, prefix: str, after: str, limit: int) -> list[Entry]:
        """Up to ``limit`` objects named ``> after`` with ``prefix``, sorted."""
        names = self.names
        i = bisect.bisect_left(names, prefix)
        if after:
            i = max(i, bisect.bisect_right(names, after))
        out: list[Entry] = []
        while i < len(names) and len(out) < limit:
            name = names[i]
            if not name.startswith(prefix):
                break
            size, mtime = self.info[name]
            out.append((name, size, mtime))
            i += 1
        return out

    def get(self, name: str) -> Entry | None:
        """The ``(name, size, mtime_ns)`` of one object, if indexed."""
        got = self.info.get(name)
        return (name, got[0], got[1]) if got else None

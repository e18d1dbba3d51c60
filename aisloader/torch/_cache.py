"""One listing per dataset and node, shared by the DataLoader workers through a file.

The first worker that needs the manifest takes an exclusive ``flock``, lists the sources and
saves the manifest; the others wait on the lock and load it. The creating process removes the
files when the dataset is garbage-collected or at exit.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path

from aisloader.core.listing.manifest import Manifest

__all__ = ["SharedManifest"]

# Not "aisloader": a directory of the package's name in the temp dir would shadow an editable
# install for any script run from there (it imports as a namespace package).
_DIR = "aisloader-manifests"


class SharedManifest:
    """A node-local manifest file keyed by a dataset's unique id."""

    def __init__(self, uid: str) -> None:
        base = Path(tempfile.gettempdir()) / _DIR
        self.path = base / f"{uid}.manifest"
        self._lock = base / f"{uid}.lock"
        self._owner = os.getpid()
        weakref.finalize(self, _remove, self._owner, (self.path, self._lock))

    def get(self, build: Callable[[], Manifest]) -> Manifest:
        """Load the shared manifest, building it once (under the lock) if absent."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self.path.exists():
                    return Manifest.load(self.path)
                manifest = build()
                manifest.save(self.path)
                return manifest
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def __reduce__(self) -> tuple[object, ...]:
        return (_attach, (self.path.stem, self._owner))


def _attach(uid: str, owner: int) -> SharedManifest:
    shared = SharedManifest.__new__(SharedManifest)
    base = Path(tempfile.gettempdir()) / _DIR
    shared.path, shared._lock, shared._owner = base / f"{uid}.manifest", base / f"{uid}.lock", owner
    return shared


def _remove(owner: int, paths: tuple[Path, ...]) -> None:
    if os.getpid() != owner:
        return
    for path in paths:
        path.unlink(missing_ok=True)

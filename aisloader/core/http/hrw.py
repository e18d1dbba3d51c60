"""Highest-random-weight (HRW) owner selection, exactly as AIS does it (protocol doc 2.3).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

import xxhash

__all__ = ["MLCG32", "digest", "owner", "xoshiro_mix"]

MLCG32 = 1103515245
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
_SKIP = 4 | 8  # maintenance | decommissioning


def digest(text: str) -> int:
    """XXH64 of ``text`` (UTF-8) with the AIS seed: the uname digest and the node id_digest."""
    return xxhash.xxh64_intdigest(text.encode(), seed=MLCG32)


def xoshiro_mix(x: int) -> int:
    """The splitmix64-style double scramble plus the xoshiro256** output step (u64)."""
    z = (x + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * _MUL1) & _M64
    z = ((z ^ (z >> 27)) * _MUL2) & _M64
    z = ((z ^ (z >> 31)) + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * _MUL1) & _M64
    z = ((z ^ (z >> 27)) * _MUL2) & _M64
    z = ((z ^ (z >> 31)) * 5) & _M64
    z = ((z << 7) | (z >> 57)) & _M64
    return (z * 9) & _M64


def owner(uname: str, targets: Iterable[tuple[str, int, int]]) -> str | None:
    """The daemon ID of the target that owns ``uname``.

    Args:
        uname: ``provider/ns/bucket/object`` (see ``ObjectRef.uname``).
        targets: ``(daemon_id, id_digest, flags)`` of every target in the smap.

    Returns:
        The winning daemon ID, or None when no target is eligible.
    """
    d = digest(uname)
    best, best_score = None, -1
    for tid, id_digest, flags in targets:
        if flags & _SKIP:
            continue
        score = xoshiro_mix(id_digest ^ d)
        if score > best_score:
            best, best_score = tid, score
    return best

"""Highest-random-weight owner selection exactly as AIS does it (protocol doc section 2.3)."""

from __future__ import annotations

from collections.abc import Iterable

import xxhash

__all__ = ["HRW_SEED", "digest", "make_daemon_id", "owner", "xoshiro256ss_mix"]

HRW_SEED = 1103515245  # cos.MLCG32
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def digest(text: str) -> int:
    """XXH64 of the UTF-8 bytes of ``text`` with the AIS seed (node ``id_digest`` and unames)."""
    return xxhash.xxh64_intdigest(text.encode(), seed=HRW_SEED)


def _scramble(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def xoshiro256ss_mix(x: int) -> int:
    """The splitmix64 double scramble plus the xoshiro256** output step (u64 arithmetic)."""
    z = _scramble((x + _GOLDEN) & _M64)
    z = _scramble((z + _GOLDEN) & _M64)
    z = (z * 5) & _M64
    z = ((z << 7) | (z >> 57)) & _M64
    return (z * 9) & _M64


def owner(uname: str, targets: Iterable[tuple[str, int]]) -> str:
    """Return the ID of the target with the highest score for ``uname``.

    Args:
        uname: ``provider/ns/bucket/object``, e.g. ``ais/@#/bck1/dir/a.txt``.
        targets: ``(daemon_id, id_digest)`` pairs of the active targets.

    Raises:
        ValueError: when ``targets`` is empty.
    """
    d = digest(uname)
    best_id, best = "", -1
    for tid, id_digest in targets:
        score = xoshiro256ss_mix(id_digest ^ d)
        if score > best:
            best_id, best = tid, score
    if not best_id:
        raise ValueError("no targets to choose from")
    return best_id


def make_daemon_id(prefix: str, seed: int, index: int) -> str:
    """A deterministic AIS-like daemon ID: ``prefix`` plus 7 alphanumerics."""
    n = xxhash.xxh64_intdigest(f"{prefix}/{seed}/{index}".encode())
    chars = []
    for _ in range(7):
        n, r = divmod(n, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[r])
    return prefix + "".join(chars)

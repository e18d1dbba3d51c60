"""What resume costs: the time to continue at the middle of a 100k-item epoch (same layout and
elastic), the size of a state, and the per-item cost of tracking it.

    python benchmarks/resume_cost.py [--items 100000]

No cluster is needed: a resume reads no delivered data, it only recomputes where the next
position is (the seeded permutation and the plan of earlier rounds).
"""

from __future__ import annotations

import argparse
import json
import time

from aisloader.core.streams.order import Part, Permutation
from aisloader.core.streams.progress import Plan, Round


def _first(plan: Plan, part: Part, skip: int, perm: Permutation) -> float:
    start = time.perf_counter()
    position = next(iter(plan.positions(part, skip)))
    _ = perm[position]
    return time.perf_counter() - start


class _Progress:
    __slots__ = ("delivered",)

    def __init__(self) -> None:
        self.delivered = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    n = parser.parse_args().items
    perm = Permutation(n, seed=1, epoch=3)
    same = _first(Plan(n), Part(3, 8), n // 16, perm)  # part 3 of 8 at half its share
    cut = Round(8, tuple(n // 16 + i for i in range(8)))  # 8 parts cut near the middle
    elastic = _first(Plan(n, (cut,)), Part(2, 3), 0, perm)  # resumed on 3 parts
    rest = time.perf_counter()
    count = sum(1 for _ in Plan(n, (cut,)).positions(Part(2, 3)))
    whole_rest = time.perf_counter() - rest
    state = {"rounds": [[cut.count, list(cut.done)]], "part": [2, 3], "delivered": 0}
    loops = 1_000_000
    progress = _Progress()
    start = time.perf_counter()
    for _ in range(loops):
        progress.delivered += 1  # what the dataset does per item handed out
    bare = time.perf_counter()
    for _ in range(loops):
        pass
    tracked = ((bare - start) - (time.perf_counter() - bare)) / loops
    print(f"first item after a resume at the middle of {n} items: same layout {same * 1e3:.2f} ms,")
    print(
        f"  elastic 8 -> 3 parts {elastic * 1e3:.2f} ms; all {count} positions of one new part "
        f"{whole_rest * 1e3:.1f} ms"
    )
    print(f"state: {len(json.dumps(state))} bytes of JSON for 8 parts (no sample lists)")
    print(f"tracking: {tracked * 1e9:.0f} ns per item (one attribute increment)")


if __name__ == "__main__":
    main()

"""What resume tracking costs a shard reader, measured as a throughput ratio in one run.

    python benchmarks/tracking_cost.py [--shards 40] [--samples 250] [--rounds 5]

The same ``AISShardReader`` epoch (dict samples, 2 shards in flight round-robin, a 100-sample
shuffle buffer) is read with tracking on (every sample carries its trace, replayed by the
consumer's cursor: what ``state_dict()`` needs) and off, alternating, against one embedded
cluster; the medians and their ratio are printed. Then the time to resume at the middle of the
epoch (to the first sample) and the size of that state.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from typing import Any

from _common import SHARD_PREFIX, put_shards, serve
from torchdata.stateful_dataloader import StatefulDataLoader

from aisloader.core.stages.shuffle import ShuffleBuffer
from aisloader.core.streams.shard_cursor import OPEN, TAKE, ShardCursor
from aisloader.torch import AISShardReader
from aisloader.torch._base import _Progress


class _Untracked(AISShardReader):
    """The same reader with tracking off: no traces made, none replayed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shards.track = False

    def _take(self, progress: _Progress, item: Any) -> bool:
        return True


def _reader(cls: type[AISShardReader], endpoint: str) -> AISShardReader:
    return cls(
        f"ais://bench/{SHARD_PREFIX}",
        endpoint=endpoint,
        sample_format="dict",
        shuffle=True,
        deterministic=True,
        shuffle_buffer=100,
    )


def _epoch(reader: AISShardReader) -> float:
    start = time.perf_counter()
    count = sum(1 for _ in reader)
    return count / (time.perf_counter() - start)


def _per_sample_ns(count: int = 100_000, repeats: int = 7) -> float:
    """Trace making + replay per sample, in isolation (no I/O): the 100-sample buffer's pops,
    each with its TAKE event, replayed by a cursor; the best of ``repeats`` runs each way."""

    def run(traced: bool) -> float:
        buffer: ShuffleBuffer[int] = ShuffleBuffer(100, 1 << 40, seed=1)
        cursor, events = ShardCursor(), [(OPEN, 0, 0, 0, ())]
        start = time.perf_counter()
        for i in range(count):
            if traced:
                events.append((TAKE, 0, i))
            for _ in buffer.push(i, 1):
                if traced:
                    trace = (tuple(events), buffer.slot)
                    events.clear()
                    cursor.apply(trace)
        return time.perf_counter() - start

    with_trace = min(run(True) for _ in range(repeats))
    bare = min(run(False) for _ in range(repeats))
    return (with_trace - bare) / count * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=40)
    parser.add_argument("--samples", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with serve("aisloader-tracking-") as (_, endpoint):
        put_shards(endpoint, "bench", args.shards, args.samples, member_size=1024)
        _epoch(_reader(AISShardReader, endpoint))  # warm: listing, page cache
        on, off = [], []
        for _ in range(args.rounds):
            on.append(_epoch(_reader(AISShardReader, endpoint)))
            off.append(_epoch(_reader(_Untracked, endpoint)))
        total = args.shards * args.samples
        first = StatefulDataLoader(_reader(AISShardReader, endpoint), batch_size=50)
        for _ in itertools.islice(iter(first), total // 100):  # half the epoch
            pass
        state = first.state_dict()
        second = StatefulDataLoader(_reader(AISShardReader, endpoint), batch_size=50)
        start = time.perf_counter()
        second.load_state_dict(state)
        next(iter(second))
        resumed = time.perf_counter() - start
    a, b = statistics.median(on), statistics.median(off)
    print(f"{total} samples, {args.rounds} alternating epochs each")
    print(f"tracking on:  {a:,.0f} samples/s (median; {', '.join(f'{x:,.0f}' for x in on)})")
    print(f"tracking off: {b:,.0f} samples/s (median; {', '.join(f'{x:,.0f}' for x in off)})")
    print(f"ratio on/off: {a / b:.3f}")
    size = len(json.dumps(state["dataset_state"]))
    print(f"resume at the middle: first batch after {resumed * 1e3:.0f} ms; state {size} bytes")
    print(f"trace + replay, no I/O: {_per_sample_ns():.0f} ns per sample")


if __name__ == "__main__":
    main()

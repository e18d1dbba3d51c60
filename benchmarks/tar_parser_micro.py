"""Micro-benchmark of the streaming tar parser and WebDataset grouping, in memory, one process.

Builds one ustar shard of --samples samples × 3 members (``jpg``, ``cls``, ``json``, each of
--kib KiB of random bytes by default; ``--small-extras`` makes ``cls``/``json`` a few bytes as
in ``shard_throughput.py``), then times, best of --repeat:

* ``aisloader parse``: ``TarStreamParser.feed_iter`` over --chunk-kib chunks + ``close``;
* ``aisloader parse+group``: the same members through ``SampleGrouper.push``;
* ``aisloader async``: ``iter_tar_members`` → ``agroup_samples`` as ``ShardStream`` chains them;
* ``tarfile r|``: stdlib ``tarfile.open(mode="r|")`` over ``BytesIO``, each member's
  ``extractfile().read()`` (what the official reader does per member).

Prints µs per member, µs per sample and MB/s (shard bytes / time).

Run: ``.venv/bin/python benchmarks/tar_parser_micro.py [--samples 1000] [--kib 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tarfile
import time
from collections.abc import AsyncIterator, Callable, Iterator

from aisloader.core.tar.members import TarStreamParser, iter_tar_members
from aisloader.core.tar.samples import SampleGrouper, agroup_samples

MAX_MEMBER = 1 << 26


def make_shard(samples: int, kib: int, small_extras: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for k in range(samples):
            for ext in ("jpg", "cls", "json"):
                size = kib * 1024 if ext == "jpg" or not small_extras else 24
                info = tarfile.TarInfo(f"sample-{k:06d}.{ext}")
                info.size, info.mtime = size, 1_700_000_000
                tar.addfile(info, io.BytesIO(os.urandom(size)))
    return buf.getvalue()


def chunked(blob: bytes, size: int) -> Iterator[bytes]:
    for pos in range(0, len(blob), size):
        yield blob[pos : pos + size]


def run_parse(blob: bytes, chunk: int) -> int:
    parser = TarStreamParser(shard="bench", max_member_size=MAX_MEMBER)
    count = 0
    for piece in chunked(blob, chunk):
        for _ in parser.feed_iter(piece):
            count += 1
    return count + len(parser.close())


def run_group(blob: bytes, chunk: int) -> int:
    parser = TarStreamParser(shard="bench", max_member_size=MAX_MEMBER)
    grouper = SampleGrouper(url="bench")
    push, count = grouper.push, 0
    for piece in chunked(blob, chunk):
        for member in parser.feed_iter(piece):
            if push(member) is not None:
                count += 1
    for member in parser.close():
        count += push(member) is not None
    return count + (grouper.finish() is not None)


def run_async(blob: bytes, chunk: int) -> int:
    async def source() -> AsyncIterator[bytes]:
        for piece in chunked(blob, chunk):
            yield piece

    async def main() -> int:
        members = iter_tar_members(source(), shard="bench", max_member_size=MAX_MEMBER)
        count = 0
        async for _ in agroup_samples(members, url="bench"):
            count += 1
        return count

    return asyncio.run(main())


def run_tarfile(blob: bytes, chunk: int) -> int:
    del chunk
    count = 0
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r|") as tar:
        for info in tar:
            extracted = tar.extractfile(info)
            if extracted is not None:
                extracted.read()
            count += 1
    return count


def best(fn: Callable[[bytes, int], int], blob: bytes, chunk: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(blob, chunk)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--kib", type=int, default=10, help="member size in KiB")
    ap.add_argument("--small-extras", action="store_true", help="cls/json of 24 bytes")
    ap.add_argument("--chunk-kib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    blob = make_shard(args.samples, args.kib, args.small_extras)
    members, chunk = 3 * args.samples, args.chunk_kib * 1024
    assert run_parse(blob, chunk) == run_tarfile(blob, chunk) == members
    assert run_group(blob, chunk) == run_async(blob, chunk) == args.samples
    print(f"shard: {len(blob) / 1e6:.1f} MB, {members} members, chunks of {args.chunk_kib} KiB")
    print("| path | µs/member | µs/sample | MB/s |")
    print("|---|---:|---:|---:|")
    cases = {
        "aisloader parse": run_parse,
        "aisloader parse+group": run_group,
        "aisloader async parse+group": run_async,
        "tarfile r| + read()": run_tarfile,
    }
    for label, fn in cases.items():
        secs = best(fn, blob, chunk, args.repeat)
        per_member = secs / members * 1e6
        print(
            f"| {label} | {per_member:.2f} | {per_member * 3:.2f} | {len(blob) / secs / 1e6:.0f} |"
        )


if __name__ == "__main__":
    main()

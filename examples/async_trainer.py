"""A custom asyncio trainer loop: ``async for`` over an :class:`ObjectStream`.

    python examples/async_trainer.py

No DataLoader, no threads: the stream keeps ``window`` GETs in flight on the running loop while
the loop body consumes samples.
"""

from __future__ import annotations

import asyncio
import hashlib

from _common import endpoint

from aisloader import AsyncClient, ObjectStream

BUCKET, COUNT = "aisloader-example-async", 500


async def run(url: str) -> None:
    async with AsyncClient(url) as client:
        await client.create_bucket(BUCKET, exist_ok=True)
        for i in range(COUNT):
            await client.put(
                f"ais://{BUCKET}/obj-{i:05d}", hashlib.sha256(str(i).encode()).digest()
            )
        stream = ObjectStream(f"ais://{BUCKET}/", client=client, shuffle=True, seed=7)
        for epoch in range(2):
            stream.set_epoch(epoch)
            seen = []
            async for name, data in stream:
                assert len(data) == 32  # a real trainer would decode and step here
                seen.append(name)
            print(f"epoch {epoch}: {len(seen)} objects, first {seen[:3]}")
            assert sorted(seen) == [f"obj-{i:05d}" for i in range(COUNT)]
        print("client stats:", client.stats)
        await client.destroy_bucket(BUCKET)


def main() -> None:
    with endpoint() as (url, _):
        asyncio.run(run(url))


if __name__ == "__main__":
    main()

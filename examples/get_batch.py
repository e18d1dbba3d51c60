"""Get-batch: many small objects per request, several requests in flight.

    python examples/get_batch.py

First the async API (``client.get_batch``: ordered ``(entry, data)`` pairs, missing objects
as typed values), then ``AISBatchIterDataset`` through a DataLoader with 2 workers.
"""

from __future__ import annotations

import asyncio

from _common import endpoint
from torch.utils.data import DataLoader

from aisloader import AsyncClient, ObjectNotFound
from aisloader.torch import AISBatchIterDataset

BUCKET, COUNT = "aisloader-example-batch", 1000


async def write_and_read(url: str) -> None:
    async with AsyncClient(url) as client:
        await client.create_bucket(BUCKET, exist_ok=True)
        for i in range(COUNT):
            await client.put(f"ais://{BUCKET}/img-{i:05d}", i.to_bytes(4, "little") * 256)
        refs = [f"ais://{BUCKET}/img-{i:05d}" for i in range(10)] + [f"ais://{BUCKET}/nope"]
        async for entry, value in client.get_batch(refs, batch_size=8):
            shown = f"{len(value)} bytes" if isinstance(value, bytes) else repr(value)
            print(f"{entry.ref.uri}: {shown}")
        assert isinstance(value, ObjectNotFound)


def main() -> None:
    with endpoint() as (url, _):
        asyncio.run(write_and_read(url))
        dataset = AISBatchIterDataset(f"ais://{BUCKET}/", endpoint=url, max_batch_size=128)
        loader = DataLoader(dataset, batch_size=64, num_workers=2)
        total = sum(len(names) for names, _ in loader)
        print(f"read {total} objects through get-batch with 2 workers")
        assert total == COUNT

        async def cleanup() -> None:
            async with AsyncClient(url) as client:
                await client.destroy_bucket(BUCKET)

        asyncio.run(cleanup())


if __name__ == "__main__":
    main()

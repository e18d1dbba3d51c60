"""A get-batch stream read with ``async for`` resumes from its own state_dict(), also when a
missing object (continue_on_error) was read past: it still takes its position."""

from __future__ import annotations

from _shared import put_objects

from aisloader import AsyncClient
from aisloader.core.listing.manifest import Manifest
from aisloader.core.streams import BatchStream
from aisloader.server import LocalCluster


async def test_resume_counts_the_missing_object(
    cluster: LocalCluster, bucket: str, client: AsyncClient
) -> None:
    names = put_objects(cluster, bucket, 20, size=8)

    def stream(manifest: Manifest | None = None) -> BatchStream:
        return BatchStream(
            f"ais://{bucket}/o/",
            client=client,
            shuffle=True,
            seed=4,
            batch_size=6,
            continue_on_error=True,
            manifest=manifest,
        )

    listed = stream()
    order = [name async for name, _ in listed]
    gone = order[2]  # before the cut: the resume must count its position
    await client.delete(f"ais://{bucket}/{gone}")
    whole = [name async for name, _ in stream(listed.listed)]
    assert sorted(whole) == sorted(set(names) - {gone})
    cut, taken = stream(listed.listed), []
    async for name, _ in cut:
        taken.append(name)
        if len(taken) == 9:
            break
    again = stream(listed.listed)
    again.load_state_dict(cut.state_dict())
    assert taken + [name async for name, _ in again] == whole

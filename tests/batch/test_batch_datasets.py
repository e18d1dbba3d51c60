"""AISBatchIterDataset (exactly once across ranks × workers × start methods, seeded shuffle,
pipelined requests, missing objects, the SDK client) and the use_batch_api switches of
AISMapDataset and AISShardMapDataset (one get-batch request per DataLoader batch)."""

from __future__ import annotations

from collections import Counter

import pytest
from _shared import FAST, Overlap, blob, load, put_objects, tar_of
from aistore.sdk import Client as SdkClient

from aisloader.core.listing.sources import ObjectList
from aisloader.errors import ObjectNotFound
from aisloader.server import Fault, LocalCluster
from aisloader.torch import AISBatchIterDataset, AISMapDataset, AISShardMapDataset

MOSS = "/v1/ml/moss"


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork"), (2, "spawn")])
def test_ranks_by_workers_read_each_object_once(
    cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    names = list(put_objects(cluster, bucket, 53))
    url = f"ais://{bucket}/o/"
    per_rank = []
    for rank in range(2):
        dataset = AISBatchIterDataset(
            url,
            endpoint=cluster.endpoint,
            config=FAST,
            max_batch_size=4,
            shuffle=True,
            seed=7,
            rank=rank,
            world_size=2,
        )
        assert len(dataset) == 27 - rank
        items = load(dataset, workers, method, batch_size=5)
        assert all(data == blob(int(name[2:])) for name, data in items)
        per_rank.append([name for name, _ in items])
    seen = Counter(per_rank[0] + per_rank[1])
    assert sorted(seen) == names
    assert set(seen.values()) == {1}
    if workers == 0:  # one consumer per rank: the seeded order is not the listing order
        assert per_rank[0] != sorted(per_rank[0])


def test_seeded_shuffle_is_reproducible_and_changes_per_epoch(
    cluster: LocalCluster, bucket: str
) -> None:
    put_objects(cluster, bucket, 30)

    def order(epoch: int, seed: int = 3) -> list[str]:
        ds = AISBatchIterDataset(
            f"ais://{bucket}", endpoint=cluster.endpoint, config=FAST, shuffle=True, seed=seed
        )
        ds.set_epoch(epoch)
        return [name for name, _ in ds]

    first = order(0)
    assert first == order(0)
    assert sorted(first) == sorted(order(1))
    assert first != order(1)
    assert first != order(0, seed=4)


@pytest.mark.parametrize("fmt", [".tar", ".tgz", ".zip"])
@pytest.mark.parametrize("streaming", [True, False])
def test_plugin_arguments_and_the_sdk_client(
    cluster: LocalCluster, bucket: str, fmt: str, streaming: bool
) -> None:
    names = list(put_objects(cluster, bucket, 10))
    sdk = SdkClient(cluster.endpoint)
    dataset = AISBatchIterDataset(
        ObjectList(bucket, names),
        client=sdk,
        max_batch_size=3,
        output_format=fmt,  # type: ignore[arg-type]
        streaming=streaming,
        transform=len,
    )
    assert list(dataset) == [(n, len(blob(i))) for i, n in enumerate(names)]


def test_missing_objects_raise_or_are_skipped(cluster: LocalCluster, bucket: str) -> None:
    names = list(put_objects(cluster, bucket, 6))
    listed = ObjectList(bucket, [*names[:3], "gone", *names[3:]])
    strict = AISBatchIterDataset(listed, endpoint=cluster.endpoint, config=FAST)
    with pytest.raises(ObjectNotFound, match="gone"):
        list(strict)
    lenient = AISBatchIterDataset(listed, endpoint=cluster.endpoint, config=FAST, cont_on_err=True)
    assert [n for n, _ in lenient] == names
    assert lenient.skipped == [f"ais://{bucket}/gone"]


def test_batches_are_pipelined(cluster: LocalCluster, bucket: str) -> None:
    """With 4 batches in flight, the 4 get-batch requests are open at the proxy together."""
    names = list(put_objects(cluster, bucket, 16))
    config = FAST.replace(batches_in_flight=4)
    with Overlap(cluster.endpoint, MOSS, release_at=4, hold=5.0) as proxy:
        dataset = AISBatchIterDataset(
            ObjectList(bucket, names), endpoint=proxy.endpoint, config=config, max_batch_size=4
        )
        got = list(dataset)
    assert [data for _, data in got] == [blob(i) for i in range(16)]
    assert (proxy.served, proxy.peak) == (4, 4)


def test_without_the_batch_api(no_batch_cluster: LocalCluster) -> None:
    names = list(put_objects(no_batch_cluster, "nb-ds", 9))
    dataset = AISBatchIterDataset(
        "ais://nb-ds", endpoint=no_batch_cluster.endpoint, config=FAST, max_batch_size=2
    )
    assert [(n, d) for n, d in dataset] == [(n, blob(i)) for i, n in enumerate(names)]


class _MossCounter:
    """Counts get-batch requests and all redirects (one per request of either kind)."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        cluster.set_faults([Fault("latency", every=1, hop="proxy", path_prefix=MOSS)])
        self.start = self._now()

    def _now(self) -> tuple[int, int]:
        s = self.cluster.stats()
        return s["faults.latency"], s.get("proxy.redirects", 0)

    def delta(self) -> tuple[int, int]:
        now = self._now()
        return now[0] - self.start[0], now[1] - self.start[1]


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_map_dataset_one_request_per_batch(
    cluster: LocalCluster, bucket: str, workers: int, method: str | None
) -> None:
    names = list(put_objects(cluster, bucket, 21))
    url = f"ais://{bucket}/o/"
    batched = AISMapDataset(url, endpoint=cluster.endpoint, config=FAST, use_batch_api=True)
    counter = _MossCounter(cluster)
    items = load(batched, workers, method, batch_size=8)
    assert items == [(n, blob(i)) for i, n in enumerate(names)]
    assert counter.delta() == (3, 3)  # 3 batches, no per-object GET


def test_map_dataset_batch_api_raises_for_missing(cluster: LocalCluster, bucket: str) -> None:
    names = list(put_objects(cluster, bucket, 4))
    listed = ObjectList(bucket, [*names, "gone"])
    dataset = AISMapDataset(listed, endpoint=cluster.endpoint, config=FAST, use_batch_api=True)
    assert dataset.__getitems__([3, 0]) == [(names[3], blob(3)), (names[0], blob(0))]
    with pytest.raises(ObjectNotFound, match="gone"):
        dataset.__getitems__([0, 4])


def test_shard_map_dataset_reads_members_through_get_batch(
    cluster: LocalCluster, bucket: str
) -> None:
    for s in range(3):
        members = {f"k{s}-{i}.{ext}": f"{s}/{i}.{ext}".encode() for i in range(4) for ext in "ab"}
        cluster.put_object(bucket, f"sh/{s}.tar", tar_of(members))
    url = f"ais://{bucket}/sh/"
    plain = AISShardMapDataset(url, endpoint=cluster.endpoint, config=FAST)
    batched = AISShardMapDataset(url, endpoint=cluster.endpoint, config=FAST, use_batch_api=True)
    order = [11, 0, 5, 5, 7, 2]
    want = plain.__getitems__(order)
    counter = _MossCounter(cluster)
    assert batched.__getitems__(order) == want
    assert counter.delta() == (1, 1)  # 12 members, one request
    assert want[0] == {"__key__": "k2-3", "__url__": f"ais://{bucket}/sh/2.tar", "a": b"2/3.a",
                       "b": b"2/3.b"}  # fmt: skip

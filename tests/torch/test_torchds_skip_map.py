"""on_error="skip" for map-style datasets: a batch (``__getitems__``) leaves out each object
that cannot be read and comes back shorter by it, each skip recorded (report, warning) and
counted against a budget per pass of each process; one skip too many raises
``SkipBudgetExceeded`` whose report reaches the main process whole; a single index cannot
skip and says so (``SkipNeedsBatches``); the cluster's failures (5xx) still raise."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from _shared import FAST, data_loader, put_objects
from torchds_util import batches_then_error, load_error

from aisloader import Client, ObjectNotFound, SkipBudgetExceeded
from aisloader.core.listing.manifest import Manifest
from aisloader.errors import ServiceUnavailable, SkipNeedsBatches
from aisloader.server import Fault, LocalCluster
from aisloader.torch import AISMapDataset, AISParallelMapDataset

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

BUCKET = "skipmap"
NAMES = [f"o/{i:05d}" for i in range(24)]
GONE = ("o/00003", "o/00011", "o/00016")
"""Deleted after the listing. With batches of 4 and 2 workers, worker 0 reads batches 0, 2
and 4 (indices 0-3, 8-11, 16-19): all three; worker 1 none."""
REFUSED = "o/00006"
"""Answered 403 (a fault) in the tests that install it: read by worker 1."""


@pytest.fixture(scope="module")
def listing(cluster: LocalCluster) -> Manifest:
    """24 objects listed, then three of them deleted (the listing still names them)."""
    cluster.create_bucket(BUCKET)
    put_objects(cluster, BUCKET, len(NAMES), size=8)
    manifest = AISMapDataset(f"ais://{BUCKET}/o/", endpoint=cluster.endpoint).manifest
    with Client(cluster.endpoint) as client:
        for name in GONE:
            client.delete(f"ais://{BUCKET}/{name}")
    return manifest


def _dataset(
    cluster: LocalCluster, listing: Manifest, cls: type[Any] = AISMapDataset, **kw: Any
) -> Any:
    kw.setdefault("on_error", "skip")
    return cls(endpoint=cluster.endpoint, config=FAST, manifest=listing, **kw)


def _refuse(cluster: LocalCluster, name: str, status: int = 403) -> None:
    path = f"/v1/objects/{BUCKET}/{name}"
    cluster.set_faults([Fault("status", every=1, status=status, path_prefix=path)])


def _uris(names: Sequence[str]) -> list[str]:
    return [f"ais://{BUCKET}/{n}" for n in names]


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_a_batch_leaves_out_what_cannot_be_read(
    cluster: LocalCluster,
    listing: Manifest,
    workers: int,
    method: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _refuse(cluster, REFUSED)
    dataset = _dataset(cluster, listing, skip_budget=4)
    with caplog.at_level(logging.WARNING, logger="aisloader.skips"):
        batches = list(data_loader(dataset, workers, method, batch_size=4))
    got = Counter(name for batch in batches for name, _ in batch)
    skipped = {*GONE, REFUSED}
    assert max(got.values()) == 1
    assert set(got) == set(NAMES) - skipped  # delivered ∪ skipped == all, disjoint
    assert sorted(len(b) for b in batches) == [3, 3, 3, 3, 4, 4]  # one short per skip
    if workers == 0:
        report = dataset.skip_report()
        assert [r["object"] for r in report] == _uris(sorted(skipped))  # in reading order
        errors = [r["error"].split(":")[0] for r in report]
        assert errors == ["ObjectNotFound", "AccessDenied", "ObjectNotFound", "ObjectNotFound"]
        assert all(r["attempts"] >= 1 for r in report)
        logged = [r.getMessage() for r in caplog.records]
        assert [uri for uri in _uris(sorted(skipped)) if any(uri in m for m in logged)] == (
            _uris(sorted(skipped))
        )


def test_the_get_batch_path_skips_too(cluster: LocalCluster, listing: Manifest) -> None:
    """Missing entries of one get-batch answer are left out; a get-batch refused as a whole
    is read again object by object, so each failure is pinned to its object."""
    dataset = _dataset(cluster, listing, use_batch_api=True, skip_budget=4)
    got = [name for name, _ in dataset.__getitems__(range(24))]
    assert got == [n for n in NAMES if n not in GONE]
    cluster.set_faults(
        [
            Fault("status", every=1, status=403, path_prefix="/v1/ml/moss"),
            Fault("status", every=1, status=403, path_prefix=f"/v1/objects/{BUCKET}/{REFUSED}"),
        ]
    )
    got = [name for name, _ in dataset.__getitems__(range(12))]
    assert got == [n for n in NAMES[:12] if n not in (*GONE, REFUSED)]
    report = [r["object"] for r in dataset.skip_report()]
    assert report == _uris(["o/00003", REFUSED, "o/00011"])  # this pass (24 read before)


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork"), (2, "spawn")])
def test_one_skip_past_the_budget_raises_with_its_report(
    cluster: LocalCluster, listing: Manifest, workers: int, method: str | None
) -> None:
    """The third skip of a process (index 16, batch 4) is one too many: the batches before
    it arrive short by the two skips, then the error with the three, in the main process."""
    dataset = _dataset(cluster, listing, skip_budget=2)
    batches, error = batches_then_error(dataset, workers, method, batch_size=4)
    got = [name for batch in batches for name, _ in batch]
    assert got == [n for n in NAMES[:16] if n not in GONE]
    assert [len(b) for b in batches] == [3, 4, 3, 4]
    assert isinstance(error, SkipBudgetExceeded)
    assert "skip_budget=2" in str(error)
    assert [r["object"] for r in error.report] == _uris(GONE)  # the report, whole
    assert all(r["error"].startswith("ObjectNotFound: ") for r in error.report)


def test_the_budget_holds_per_pass(cluster: LocalCluster, listing: Manifest) -> None:
    """A fraction of the process's share: 3 of 24 is allowed each pass, not 3 in all."""
    dataset = _dataset(cluster, listing, skip_budget=0.125)
    for _ in range(2):
        got = [n for b in data_loader(dataset, 0, batch_size=5) for n, _ in b]
        assert len(got) == 21
        assert [r["object"] for r in dataset.skip_report()] == _uris(GONE)


def test_a_single_index_cannot_skip(cluster: LocalCluster, listing: Manifest) -> None:
    dataset = _dataset(cluster, listing)
    assert dataset[2][0] == "o/00002"
    with pytest.raises(SkipNeedsBatches, match=r"o/00003 cannot be read \(ObjectNotFound\)") as e:
        dataset[3]
    assert isinstance(e.value.__cause__, ObjectNotFound)
    assert dataset.skip_report() == []  # not skipped: raised
    there = load_error(dataset, 2, "fork", batch_size=None)
    assert isinstance(there, SkipNeedsBatches)
    assert "o/00003 cannot be read" in str(there)


class PerIndex(AISMapDataset):
    """A plugin-style subclass: its own ``__getitem__``, through the plugin's object list."""

    def __getitem__(self, index: int) -> Any:
        obj = self.get_obj_list()[index]
        return obj.name, obj.get_reader().read_all()


class Wrapping(AISMapDataset):
    """A subclass whose ``__getitem__`` wraps ``super().__getitem__`` (which cannot skip one
    index: within a batch its object is left out all the same)."""

    def __getitem__(self, index: int) -> Any:
        name, data = super().__getitem__(index)
        return name, data.upper()


@pytest.mark.parametrize("cls", [AISParallelMapDataset, PerIndex, Wrapping])
def test_object_by_object_reads_skip_too(
    cluster: LocalCluster, listing: Manifest, cls: type[Any]
) -> None:
    dataset = _dataset(cluster, listing, cls, skip_budget=3)
    got = [name for name, _ in dataset.__getitems__(range(12))]
    assert got == [n for n in NAMES[:12] if n not in GONE]
    assert [r["object"] for r in dataset.skip_report()] == _uris(GONE[:2])


def test_default_raises_and_the_cluster_failing_is_never_skipped(
    cluster: LocalCluster, listing: Manifest
) -> None:
    with pytest.raises(ObjectNotFound):
        _dataset(cluster, listing, on_error="raise").__getitems__(range(4))
    _refuse(cluster, "o/00001", status=503)
    with pytest.raises(ServiceUnavailable):
        _dataset(cluster, listing).__getitems__(range(2))

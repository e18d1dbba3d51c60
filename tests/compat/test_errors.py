"""Scenario 6: errors. Code written for the plugin catches them with the SDK's classes
(``ErrObjNotFound``, ``ErrBckNotFound``, ``ErrETLNotFound``, ``AISError``, requests'
``ConnectionError``); aisloader's messages also say which object, ETL or URL."""

from __future__ import annotations

import socket
from types import ModuleType

import pytest
import requests
from _shared import load
from aistore.sdk import Client
from aistore.sdk.errors import AISError, ErrBckNotFound, ErrETLNotFound, ErrObjNotFound
from aistore.sdk.retry_config import RetryConfig
from tenacity import Retrying, stop_after_attempt
from urllib3 import Retry

from aisloader.server import LocalCluster

from .util import is_ours, iterate, put


@pytest.fixture
def dead_endpoint() -> str:
    """A loopback URL where nothing listens (a port that was just free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_missing_object(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    put(cluster, bucket, ["k/0", "k/1", "k/2"])
    client = Client(cluster.endpoint)
    dataset = impl.AISMapDataset(client.bucket(bucket))
    client.bucket(bucket).object("k/1").delete()  # listed, then gone

    assert dataset[0][0] == "k/0"
    with pytest.raises(ErrObjNotFound) as info:
        dataset[1]

    assert info.value.status_code == 404
    if is_ours(impl):
        assert f"ais://{bucket}/k/1" in str(info.value)


def test_missing_object_in_a_dataloader_worker(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    """torch re-raises a worker's error as ``type(exc)(message)``: the SDK's errors cannot be
    rebuilt that way, so the plugin's arrive as ``RuntimeError`` (a plugin defect); aisloader's
    keep their class, so ``except ErrObjNotFound`` still works with workers."""
    put(cluster, bucket, ["k/0", "k/1", "k/2"])
    client = Client(cluster.endpoint)
    dataset = impl.AISMapDataset(client.bucket(bucket))
    client.bucket(bucket).object("k/2").delete()

    expected = ErrObjNotFound if is_ours(impl) else RuntimeError
    with pytest.raises(expected, match="k/2"):
        load(dataset, 2, "fork", batch_size=1)


def test_missing_name_in_an_object_group(
    impl: ModuleType, cluster: LocalCluster, bucket: str
) -> None:
    """The plugin HEADs the names (a 404 without a body: a plain ``AISError``); aisloader's
    GET says which object (an ``ErrObjNotFound``, also an ``AISError``)."""
    put(cluster, bucket, ["k/0"])
    group = Client(cluster.endpoint).bucket(bucket).objects(obj_names=["k/0", "k/none"])

    with pytest.raises(AISError) as info:
        iterate(impl.AISIterDataset(group))

    assert info.value.status_code == 404
    if is_ours(impl):
        assert isinstance(info.value, ErrObjNotFound)
        assert f"ais://{bucket}/k/none" in str(info.value)


def test_no_sources(impl: ModuleType) -> None:
    """A ``ValueError`` in both (aisloader's ``ConfigError`` is one); the messages differ."""
    reason = "ais_source_list must be provided|source list|no AIS endpoint"
    empties: tuple[list[str] | None, ...] = ([], None)
    for empty in empties:
        with pytest.raises(ValueError, match=reason):
            impl.AISMapDataset(empty)
    with pytest.raises(ValueError, match=reason):
        impl.AISIterDataset([])


def test_missing_bucket(impl: ModuleType, cluster: LocalCluster) -> None:
    nowhere = Client(cluster.endpoint).bucket("compat-no-such-bucket")

    with pytest.raises(ErrBckNotFound):
        impl.AISMapDataset(nowhere)
    with pytest.raises(ErrBckNotFound):
        iterate(impl.AISIterDataset(nowhere))
    with pytest.raises(ErrBckNotFound):
        iterate(impl.AISShardReader(nowhere))


def test_unknown_etl(impl: ModuleType, cluster: LocalCluster, bucket: str) -> None:
    put(cluster, bucket, ["e/0", "e/1"])
    bck = Client(cluster.endpoint).bucket(bucket)

    with pytest.raises(ErrETLNotFound) as by_index:
        impl.AISMapDataset(bck, etl_name="no-such-etl")[1]
    with pytest.raises(ErrETLNotFound) as by_iteration:
        iterate(impl.AISIterDataset(bck, etl_name="no-such-etl"))

    if is_ours(impl):
        assert "no-such-etl" in str(by_index.value)
        assert f"ais://{bucket}/e/1" in str(by_index.value)
        assert f"ais://{bucket}/e/0" in str(by_iteration.value)


def _no_retries() -> RetryConfig:
    """An SDK retry policy that gives up at once (the default one retries for minutes)."""
    return RetryConfig(
        http_retry=Retry(total=0, connect=0, read=0),
        network_retry=Retrying(stop=stop_after_attempt(1), reraise=True),
    )


def test_cluster_down(impl: ModuleType, dead_endpoint: str) -> None:
    """An SDK source of a cluster that is down: requests' ``ConnectionError`` in both;
    aisloader's names the URL. aisloader does not read the SDK's ``retry_config``; it gives
    up on a refused connection by itself (pytest-timeout bounds a hang)."""
    bck = Client(dead_endpoint, retry_config=_no_retries()).bucket("b")

    with pytest.raises(requests.exceptions.ConnectionError) as by_map:
        impl.AISMapDataset(bck)
    with pytest.raises(requests.exceptions.ConnectionError) as by_iter:
        iterate(impl.AISIterDataset(bck.objects(obj_names=["x"])))

    if is_ours(impl):
        assert dead_endpoint in str(by_map.value)
        assert dead_endpoint in str(by_iter.value)


def test_sources_bring_their_cluster(
    impl: ModuleType,
    cluster: LocalCluster,
    bucket: str,
    dead_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``AIS_ENDPOINT`` set to a wrong URL (the fixtures unset it elsewhere): SDK sources
    still read their own cluster."""
    objects = put(cluster, bucket, ["w/0", "w/1"])
    monkeypatch.setenv("AIS_ENDPOINT", dead_endpoint)
    bck = Client(cluster.endpoint).bucket(bucket)

    mapped = impl.AISMapDataset(bck)

    assert [mapped[i] for i in range(len(mapped))] == list(objects.items())
    assert iterate(impl.AISIterDataset(bck)) == list(objects.items())

"""SDK objects bring their cluster: endpoint, token, TLS and timeouts (no network needed)."""

from __future__ import annotations

import pytest
from aistore.sdk import Client as SdkClient
from aistore.sdk.dataset.data_shard import DataShard

from aisloader.bridge.conn import Conn
from aisloader.config import ClientConfig
from aisloader.errors import ConfigError
from aisloader.sdkinfo import cluster_of, cluster_of_sources

EP = "http://127.0.0.1:51080"


def test_every_sdk_object_names_its_cluster() -> None:
    sdk = SdkClient(EP, token="secret-token", timeout=(3.0, 20.0))
    bucket = sdk.bucket("b")
    for obj in (sdk, bucket, bucket.objects(obj_names=["x"]), bucket.object("x")):
        cluster = cluster_of(obj)
        assert cluster is not None, obj
        assert cluster.endpoint == EP
        assert cluster.token == "secret-token"
        assert (cluster.connect_timeout, cluster.read_timeout) == (3.0, 20.0)
        assert "secret-token" not in repr(cluster)
    shard = cluster_of(DataShard(client_url=EP + "/", bucket_name="b"))
    assert shard is not None
    assert shard.endpoint == EP
    assert cluster_of("ais://b") is None
    assert cluster_of(ClientConfig()) is None


def test_tls_settings_reach_the_config() -> None:
    sdk = SdkClient(
        "https://127.0.0.1:51443",
        ca_cert="/etc/ca.pem",
        client_cert=("/etc/c.pem", "/etc/k.pem"),
        timeout=7.0,
    )
    cluster = cluster_of(sdk.bucket("b"))
    assert cluster is not None
    config = cluster.config(ClientConfig())
    assert (config.ca_bundle, config.client_cert, config.client_key) == (
        "/etc/ca.pem",
        "/etc/c.pem",
        "/etc/k.pem",
    )
    assert (config.connect_timeout, config.read_timeout) == (7.0, 7.0)
    assert not config.skip_verify


def test_sources_of_two_clusters_are_refused() -> None:
    a = SdkClient(EP).bucket("a")
    b = SdkClient("http://127.0.0.1:52080").bucket("b")
    assert cluster_of_sources([a, "ais://x", a]) is not None
    with pytest.raises(ConfigError, match=r"two clusters.*51080.*52080"):
        cluster_of_sources([a, b])


def test_conn_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIS_ENDPOINT", "http://127.0.0.1:1")  # another cluster: must not win
    bucket = SdkClient(EP, token="t0").bucket("b")
    conn = Conn(None, None, None, [bucket])
    assert (conn.endpoint, conn.config.token) == (EP, "t0")
    explicit = Conn("http://127.0.0.1:2", None, None, [bucket])  # endpoint= wins
    assert explicit.endpoint == "http://127.0.0.1:2"
    assert explicit.config.token is None
    via_client = Conn(None, None, SdkClient("http://127.0.0.1:3", token="t3"), ["ais://b"])
    assert (via_client.endpoint, via_client.config.token) == ("http://127.0.0.1:3", "t3")
    monkeypatch.delenv("AIS_ENDPOINT")
    assert Conn(None, None, None, [bucket]).endpoint == EP  # no AIS_ENDPOINT needed
    with pytest.raises(ConfigError):
        Conn(None, None, None, ["ais://b"])

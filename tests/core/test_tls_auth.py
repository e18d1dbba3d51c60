"""TLS and AuthN against the embedded cluster (https, client certificates, a bearer token):
the client's environment paths, its typed errors and fail-fast, the official SDK, ``serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _shared import AIS_ENV, FAST, client_env_of

from aisloader import Client, ClientConfig
from aisloader.errors import AccessDenied, ConfigError, TransportError
from aisloader.server import LocalCluster

TOKEN = "tok-7f3a-SECRET"


@pytest.fixture(scope="module")
def secure() -> Iterator[LocalCluster]:
    """https with client certificates required and AuthN on; ``b`` holds ``o0`` … ``o9``."""
    with LocalCluster(https=True, client_certs=True, auth_token=TOKEN) as c:
        for i in range(10):
            c.put_object("b", f"o{i}", f"data-{i}".encode() * 50)
        yield c


@pytest.fixture
def env(secure: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a client of ``secure`` alone (CA and certificates, no token)."""
    return client_env_of(secure, monkeypatch)


def _fast(**kw: object) -> ClientConfig:
    """The environment's config with short backoffs and a 3 s retry budget."""
    fast = {"backoff_base": FAST.backoff_base, "backoff_cap": FAST.backoff_cap}
    return ClientConfig.from_env(**(fast | {"retry_budget": 3.0} | kw))


def test_every_operation_through_env_paths(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIS_AUTHN_TOKEN", TOKEN)
    with Client(config=_fast()) as c:
        assert c.endpoint.startswith("https://")
        assert c.get(("b", "o3")) == b"data-3" * 50
        c.put(("b", "new"), b"written over TLS")
        assert c.get(("b", "new")) == b"written over TLS"
        names = [e.name for e in c.list_objects("b")]
        assert names == sorted([f"o{i}" for i in range(10)] + ["new"])
        got = {e.ref.name: v for e, v in c.get_batch([("b", "o1"), ("b", "o2")])}
        assert got == {"o1": b"data-1" * 50, "o2": b"data-2" * 50}
        assert c.head(("b", "o4")).size == len(b"data-4" * 50)


def test_token_file_path(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "auth.token"
    token_file.write_text(json.dumps({"token": TOKEN}))
    monkeypatch.setenv("AIS_AUTHN_TOKEN_FILE", str(token_file))
    with Client(config=_fast()) as c:
        assert c.get(("b", "o0")) == b"data-0" * 50


def test_direct_reads_fall_back_to_the_proxy(env: dict[str, str], secure: LocalCluster) -> None:
    """With AuthN on, targets refuse requests the proxy did not redirect (403): direct reads
    fall back to the proxy and every object still arrives."""
    before = secure.stats().get("proxy.GET", 0)
    with Client(config=_fast(token=TOKEN, direct_reads=True)) as c:
        assert [c.get(("b", f"o{i}")) for i in range(10)] == [
            f"data-{i}".encode() * 50 for i in range(10)
        ]
    assert secure.stats()["proxy.GET"] - before >= 10  # every read went through the proxy


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_missing_or_wrong_token_is_401_at_once(env: dict[str, str], token: str | None) -> None:
    with Client(config=_fast(token=token)) as c:
        with pytest.raises(AccessDenied) as info:
            c.get(("b", "o1"))
        assert c.stats.retries == 0
    assert info.value.status == 401
    assert "AIS_AUTHN_TOKEN" in str(info.value)


def test_untrusted_certificate_fails_at_once(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIS_CLIENT_CA")
    with Client(config=_fast(token=TOKEN)) as c:
        with pytest.raises(ConfigError) as info:
            c.get(("b", "o1"))
        assert c.stats.retries == 0  # a certificate does not become trusted by retrying
    assert "AIS_CLIENT_CA" in str(info.value)
    assert "AIS_SKIP_VERIFY_CRT" in str(info.value)


def test_skip_verify_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIS_CLIENT_CA")
    monkeypatch.setenv("AIS_SKIP_VERIFY_CRT", "true")
    with Client(config=_fast(token=TOKEN)) as c:
        assert c.get(("b", "o5")) == b"data-5" * 50


def test_missing_client_certificate_is_named(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIS_CRT")
    monkeypatch.delenv("AIS_CRT_KEY")
    with (
        Client(config=_fast(token=TOKEN, retry_budget=0.3)) as c,
        pytest.raises(TransportError) as info,
    ):
        c.get(("b", "o1"))
    assert "AIS_CRT" in str(info.value)


def test_https_client_to_an_http_cluster_fails_at_once(cluster: LocalCluster) -> None:
    url = cluster.endpoint.replace("http://", "https://")
    with Client(url, config=FAST) as c:
        with pytest.raises(ConfigError) as info:
            c.get(("b", "o1"))
        assert c.stats.retries == 0
    assert "http://" in str(info.value)


def test_official_sdk_with_tls_and_token(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aistore.sdk import Client as SdkClient
    from aistore.sdk.errors import AISError as SdkAISError

    explicit = SdkClient(
        env["AIS_ENDPOINT"],
        ca_cert=env["AIS_CLIENT_CA"],
        client_cert=(env["AIS_CRT"], env["AIS_CRT_KEY"]),
        token=TOKEN,
        max_pool_size=2,
    )
    bucket = explicit.bucket("b")
    assert bucket.object("o7").get_reader().read_all() == b"data-7" * 50
    bucket.object("sdk-put").get_writer().put_content(b"from the sdk")
    monkeypatch.setenv("AIS_AUTHN_TOKEN", TOKEN)
    from_env = SdkClient(env["AIS_ENDPOINT"], max_pool_size=2)  # CA, certificate, token: env
    names = {e.name for e in from_env.bucket("b").list_all_objects()}
    assert {"o7", "sdk-put"} <= names
    assert from_env.bucket("b").object("sdk-put").get_reader().read_all() == b"from the sdk"
    monkeypatch.delenv("AIS_AUTHN_TOKEN")
    no_token = SdkClient(env["AIS_ENDPOINT"], max_pool_size=2).bucket("b").object("o1")
    with pytest.raises(SdkAISError) as info:
        no_token.get_reader().read_all()
    assert info.value.status_code == 401


def test_serve_https_auth_cli(tmp_path: Path) -> None:
    """``serve --https --client-certs --auth-token --latency`` prints the endpoint first, then
    its settings and the client's exports (never the token); a client configured from them
    reads and writes."""
    cmd = [sys.executable, "-m", "aisloader", "serve", "--https", "--client-certs"]
    cmd += ["--auth-token", TOKEN, "--tls-dir", str(tmp_path / "tls"), "--targets", "1"]
    cmd += ["--latency", "1ms"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stderr is not None
        endpoint = proc.stdout.readline().strip()
        exports, lines = {}, []
        while len(exports) < 4:
            line = proc.stderr.readline()
            assert line, "serve ended before printing its exports"
            lines.append(line.strip())
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value
        assert "latency 1 ms per target GET" in lines
        assert exports["AIS_ENDPOINT"] == endpoint
        assert endpoint.startswith("https://127.0.0.1:")
        assert Path(exports["AIS_CLIENT_CA"]) == tmp_path / "tls" / "ca.pem"
        env = {k: v for k, v in os.environ.items() if k not in AIS_ENV} | exports
        config = ClientConfig.from_env(env, token=TOKEN, retry_budget=3.0)
        with Client(endpoint, config=config) as c:
            c.create_bucket("cli")
            c.put(("cli", "x"), b"over the CLI cluster")
            assert c.get(("cli", "x")) == b"over the CLI cluster"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert TOKEN not in out + err


def test_tls_options_are_checked() -> None:
    with pytest.raises(ValueError, match="needs https"):
        LocalCluster(client_certs=True)
    out = subprocess.run(
        [sys.executable, "-m", "aisloader", "serve", "--client-certs"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "--client-certs needs --https" in out.stderr

"""Datasets on a cluster with TLS, client certificates and AuthN, through DataLoader workers:
a token from the environment is read again in each worker, never pickled, never saved with a
dataset; SDK sources carry their own token and TLS; and no token appears in any log, repr,
message or output (grepped)."""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from _shared import AIS_ENV, FAST, client_env_of, load
from torchds_util import assert_exactly_once, load_error

from aisloader import Client, ClientConfig
from aisloader.core.client import AsyncClient
from aisloader.errors import AccessDenied
from aisloader.server import LocalCluster
from aisloader.torch import AISIterDataset, AISMapDataset, AISShardReader

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

TOKEN = "tok-92c1-NEVER-SHOWN"
WRONG = "tok-wrong-ALSO-NEVER-SHOWN"


@pytest.fixture(scope="module")
def secure() -> Iterator[LocalCluster]:
    with LocalCluster(https=True, client_certs=True, auth_token=TOKEN) as c:
        for i in range(12):
            c.put_object("sec", f"o/{i:02d}", f"secure-{i}".encode() * 30)
        yield c


@pytest.fixture
def expected() -> dict[str, bytes]:
    return {f"o/{i:02d}": f"secure-{i}".encode() * 30 for i in range(12)}


@pytest.fixture
def env(secure: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a client of ``secure`` alone (CA, certificates and the token)."""
    values = client_env_of(secure, monkeypatch)
    monkeypatch.setenv("AIS_AUTHN_TOKEN", TOKEN)
    return values | {"AIS_AUTHN_TOKEN": TOKEN}


def _config() -> ClientConfig:
    return ClientConfig.from_env(backoff_base=FAST.backoff_base, retry_budget=5.0)


def _saved(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue() + pickle.dumps(obj)


@pytest.mark.parametrize(("workers", "method"), [(0, None), (2, "fork")])
def test_env_token_works_in_workers_and_is_never_pickled(
    env: dict[str, str], expected: dict[str, bytes], workers: int, method: str | None
) -> None:
    dataset = AISIterDataset("ais://sec/o/", config=_config())
    assert TOKEN.encode() not in _saved(dataset)
    assert_exactly_once(load(dataset, workers, method), expected)


def test_spawned_workers_read_the_token_from_their_environment(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, expected: dict[str, bytes]
) -> None:
    """Spawned workers unpickle the dataset and read the token from their environment: once
    it is gone from there, in-process reads still work (the config holds it) but spawned
    workers get 401."""
    dataset = AISMapDataset("ais://sec/o/", config=_config())
    assert_exactly_once(load(dataset, 1, "spawn"), expected)
    monkeypatch.delenv("AIS_AUTHN_TOKEN")
    assert_exactly_once(load(dataset, 0), expected)
    err = load_error(dataset, 1, "spawn")
    assert isinstance(err, AccessDenied)
    assert err.status == 401


def test_sdk_sources_carry_their_cluster(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, expected: dict[str, bytes]
) -> None:
    """An SDK bucket made with explicit TLS files and token: our dataset reads with them in
    workers that unpickle it (forkserver), with nothing in the environment."""
    from aistore.sdk import Client as SdkClient

    sdk = SdkClient(
        env["AIS_ENDPOINT"],
        ca_cert=env["AIS_CLIENT_CA"],
        client_cert=(env["AIS_CRT"], env["AIS_CRT_KEY"]),
        token=TOKEN,
        max_pool_size=2,
    )
    for name in AIS_ENV:
        monkeypatch.delenv(name, raising=False)
    dataset = AISMapDataset(sdk.bucket("sec"), prefix_map={sdk.bucket("sec"): "o/"})
    assert_exactly_once(load(dataset, 2, "forkserver"), expected)


def _texts(obj: Any) -> list[str]:
    """str and repr of ``obj``; for an exception, of its whole chain and notes too."""
    out, seen = [], set()
    while obj is not None and id(obj) not in seen:
        seen.add(id(obj))
        out += [str(obj), repr(obj), *getattr(obj, "__notes__", [])]
        if not isinstance(obj, BaseException):
            break
        out += [repr(a) for a in obj.args]
        obj = obj.__cause__ or obj.__context__
    return out


def test_no_token_in_logs_reprs_messages_or_output(
    env: dict[str, str],
    secure: LocalCluster,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    secure.put_object("sec", "shards/s0.tar", _one_member_tar())
    texts: list[str] = []
    config = _config()
    with Client(config=config) as c:
        texts += _texts(c) + _texts(config) + _texts(c.stats) + _texts(c._a())
        c.get(("sec", "o/00"))
    datasets = [
        AISIterDataset("ais://sec/o/", config=config),
        AISMapDataset("ais://sec/o/", config=config),
        AISShardReader("ais://sec/shards/", config=config),
    ]
    for dataset in datasets:
        texts += _texts(dataset)
        assert load(dataset, 0)
    texts += _texts(secure) + _texts(AsyncClient(config=config))
    for bad in (WRONG, None):
        wrong = ClientConfig.from_env(token=bad)
        texts += _texts(wrong)
        with Client(config=wrong) as c, pytest.raises(AccessDenied) as info:
            c.get(("sec", "o/01"))
        texts += _texts(info.value)
        err = load_error(AISIterDataset("ais://sec/o/", config=wrong), 2, "fork")
        texts += _texts(err)
        texts.append(pickle.dumps(err).decode("latin-1"))
    texts.append(_saved([config, *datasets]).decode("latin-1"))
    out, errs = capfd.readouterr()
    texts += [out, errs, caplog.text, *(r.getMessage() for r in caplog.records)]
    assert texts
    assert [t for t in texts if TOKEN in t or WRONG in t] == []


def _one_member_tar() -> bytes:
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"member"
        info = tarfile.TarInfo("k0.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()

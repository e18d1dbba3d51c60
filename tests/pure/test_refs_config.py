"""Refs, URL parsing, config from env, and error mapping (pure rules)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aisloader.config import ClientConfig, endpoint_from_env
from aisloader.errors import (
    AccessDenied,
    AISError,
    BucketAlreadyExists,
    BucketNotFound,
    ConfigError,
    ObjectNotFound,
    RangeNotSatisfiable,
    ServiceUnavailable,
    ShardFormatError,
    Throttled,
    error_from_response,
)
from aisloader.refs import Bucket, ObjectRef, as_ref, parse_source_url


def test_parse_urls() -> None:
    assert parse_source_url("ais://b/dir/x") == (Bucket("b"), "dir/x")
    assert parse_source_url("s3://b") == (Bucket("b", "aws"), "")
    assert parse_source_url("ais://@uuid#ns/b/p") == (Bucket("b", "ais", "@uuid#ns"), "p")
    assert as_ref("gs://b/o").uri == "gs://b/o"
    assert as_ref(("b", "o")) == ObjectRef(Bucket("b"), "o")
    assert ObjectRef(Bucket("b"), "dir/b b+c%.bin").path == "/v1/objects/b/dir/b%20b%2Bc%25.bin"
    assert ObjectRef(Bucket("b"), "dir/a.txt").uname == "ais/@#/b/dir/a.txt"


@pytest.mark.parametrize(
    "bad", ["b/o", "ftp://b/o", "ais://", "ais:///o", "ais://b", "ais://.hidden/o", "ais://@ns"]
)
def test_bad_urls_say_what_is_expected(bad: str) -> None:
    with pytest.raises(ValueError, match="ais://"):
        as_ref(bad)


def test_config_from_env(tmp_path: Path) -> None:
    env = {
        "AIS_CONNECT_TIMEOUT": "3",
        "AIS_READ_TIMEOUT": "0",
        "AIS_MAX_CONN_POOL": "16",
        "AIS_AUTHN_TOKEN": "secret-token",
        "AIS_CLIENT_CA": "/ca.pem",
        "AIS_CRT": "/c.pem",
        "AIS_CRT_KEY": "/k.pem",
        "AIS_SKIP_VERIFY_CRT": "yes",
    }
    cfg = ClientConfig.from_env(env, window=8)
    assert (cfg.connect_timeout, cfg.read_timeout, cfg.pool_size, cfg.window) == (3, 0, 16, 8)
    assert cfg.token == "secret-token"
    assert "secret-token" not in repr(cfg)
    assert "secret-token" not in str(cfg)
    assert (cfg.ca_bundle, cfg.client_cert, cfg.client_key, cfg.skip_verify) == (
        "/ca.pem",
        "/c.pem",
        "/k.pem",
        True,
    )
    assert ClientConfig.from_env({"AIS_SKIP_VERIFY": "0"}).skip_verify is False
    assert pickle.loads(pickle.dumps(cfg.replace(token="explicit"))).token == "explicit"
    token_file = tmp_path / "auth.token"
    token_file.write_text('{"token": "from-file"}')
    assert ClientConfig.from_env({"AIS_AUTHN_TOKEN_FILE": str(token_file)}).token == "from-file"
    both = {"AIS_AUTHN_TOKEN_FILE": str(token_file), "AIS_AUTHN_TOKEN": "env"}
    assert ClientConfig.from_env(both).token == "env"  # the variable wins over the file
    with pytest.raises(ConfigError, match="AIS_READ_TIMEOUT"):
        ClientConfig.from_env({"AIS_READ_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="window"):
        ClientConfig(window=0)


def test_env_token_is_read_again_not_pickled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIS_AUTHN_TOKEN", "from-env")
    cfg = ClientConfig.from_env(window=3)
    assert (cfg.token, cfg.token_from_env) == ("from-env", True)
    raw = pickle.dumps(cfg)
    assert b"from-env" not in raw
    assert pickle.loads(raw) == cfg  # read again where it is unpickled
    monkeypatch.setenv("AIS_AUTHN_TOKEN", "rotated")
    assert (pickle.loads(raw).token, pickle.loads(raw).window) == ("rotated", 3)
    monkeypatch.delenv("AIS_AUTHN_TOKEN")
    monkeypatch.setenv("AIS_AUTHN_TOKEN_FILE", str(tmp_path / "auth.token"))
    (tmp_path / "auth.token").write_text('{"token": "from-file"}')
    assert pickle.loads(raw).token == "from-file"
    explicit = ClientConfig.from_env(token="passed")  # the caller's own: pickled as given
    assert not explicit.token_from_env
    assert pickle.loads(pickle.dumps(explicit)).token == "passed"
    assert not cfg.replace(token="new").token_from_env


def test_endpoint_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIS_ENDPOINT", raising=False)
    with pytest.raises(ConfigError, match="AIS_ENDPOINT"):
        endpoint_from_env()
    monkeypatch.setenv("AIS_ENDPOINT", "http://127.0.0.1:8080/")
    assert endpoint_from_env() == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("status", "tcode", "obj", "cls"),
    [
        (404, "", True, ObjectNotFound),
        (404, "", False, BucketNotFound),
        (404, "ErrBckNotFound", True, BucketNotFound),  # refined by tcode
        (404, "ErrNotFound", True, ObjectNotFound),
        (403, "", True, AccessDenied),
        (409, "ErrBucketAlreadyExists", False, BucketAlreadyExists),
        (416, "", True, RangeNotSatisfiable),
        (429, "", True, Throttled),
        (500, "ErrTooManyRequests", True, Throttled),
        (503, "", True, ServiceUnavailable),
        (400, "", True, AISError),
    ],
)
def test_error_mapping(status: int, tcode: str, obj: bool, cls: type[AISError]) -> None:
    err = error_from_response(status, tcode, "ais://b/o", "msg", about_object=obj)
    assert type(err) is cls
    assert "ais://b/o" in str(err)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is cls
    assert str(again) == str(err)


def test_shard_error_pickles() -> None:
    err = ShardFormatError("ais://b/s.tar", 1536, "bad checksum")
    assert "byte 1536" in str(err)
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


@pytest.mark.parametrize("cls", [ObjectNotFound, ShardFormatError, Throttled])
def test_errors_survive_dataloader_reraise(cls: type[Exception]) -> None:
    # torch's ExceptionWrapper.reraise() does ``exc_type(message)``.
    err = cls("Caught ObjectNotFound in DataLoader worker process 0: ais://b/o ...")
    assert isinstance(err, cls)
    assert "ais://b/o" in str(err)

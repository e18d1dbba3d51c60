"""Frozen client configuration: every knob and every buffer bound, with defaults and env vars.

``ClientConfig.from_env()`` reads the variables the official SDK reads (``AIS_AUTHN_TOKEN``,
``AIS_CLIENT_CA``, ``AIS_CRT``/``AIS_CRT_KEY``, ``AIS_SKIP_VERIFY_CRT``/``AIS_SKIP_VERIFY``,
``AIS_CONNECT_TIMEOUT``, ``AIS_READ_TIMEOUT``, ``AIS_MAX_CONN_POOL``) plus
``AIS_AUTHN_TOKEN_FILE``. The endpoint itself comes from ``AIS_ENDPOINT`` (see
:func:`endpoint_from_env`). Configs pickle as plain values, so DataLoader workers under spawn
keep the user's settings (the official SDK loses custom retry policies there).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisloader.errors import ConfigError

__all__ = ["ClientConfig", "endpoint_from_env"]

_TRUTHY = {"1", "t", "true", "y", "yes", "on"}
_FALSY = {"", "0", "f", "false", "n", "no", "off"}
_DEFAULT_TOKEN_FILE = "~/.config/ais/cli/auth.token"


@dataclass(frozen=True)
class ClientConfig:
    """Every knob of the client, with a default. Immutable; use :meth:`replace` to derive.

    Attributes:
        connect_timeout: seconds to open a TCP/TLS connection (``AIS_CONNECT_TIMEOUT``; 0 = none).
        read_timeout: seconds to wait for each read of a response, including the first byte
            (``AIS_READ_TIMEOUT``; 0 = none). There is no total cap, so long streams never die.
        pool_size: open connections kept per host, proxy and targets alike
            (``AIS_MAX_CONN_POOL``).
        keepalive_timeout: seconds an idle connection is kept (AIS closes at 30 s).
        window: requests in flight per client for ``get_many`` and the datasets.
        read_ahead: objects an ordered read (``get_many``, the iterable datasets) may fetch
            past the oldest one not yet delivered: while that one is retried, the window keeps
            fetching and holds the later objects, in order, until it arrives (at least
            ``window``; ``window`` turns read-ahead off).
        read_ahead_bytes: bytes those held objects may take; no GET starts while they hold
            more (the window's own objects come on top: ``window`` × object size).
        retry_attempts: attempts per request, the first included (429/5xx/connection/short body);
            16 keeps a per-object failure rate near 1e-9 with 15% failures on each hop.
        backoff_base: first backoff in seconds; doubles per retry, with full jitter.
        backoff_cap: largest single backoff in seconds.
        retry_budget: total seconds one request may spend retrying before giving up.
        chunk_size: bytes per read from a streamed body.
        bridge_queue: items queued between the loop thread and a synchronous consumer.
        verify_checksums: check ``Ais-Checksum-*`` on full-object GETs (xxhash, crc32c, md5,
            sha*); a mismatch re-reads the object within the retry budget, then raises
            ChecksumMismatch.
        direct_reads: GET/HEAD straight from the owning target (smap + HRW): one HTTP exchange
            per object instead of two. Falls back to the proxy where the cluster refuses it
            (AuthN, signing: 401/403) or the targets cannot be reached; the smap is re-read
            when a redirect shows it changed. On by default; False always uses the proxy.
        token: AuthN bearer token (``AIS_AUTHN_TOKEN`` or ``AIS_AUTHN_TOKEN_FILE``); never logged.
        token_from_env: the token came from the environment (`from_env` sets it). Such a config
            pickles without the token and reads the environment again where it is unpickled
            (DataLoader workers, ``torch.load``), so the token never travels inside a pickle
            nor reaches disk with a saved dataset. A token passed explicitly is pickled.
        ca_bundle: CA bundle path to verify the server (``AIS_CLIENT_CA``).
        client_cert: client certificate path for mTLS (``AIS_CRT``).
        client_key: client key path for mTLS (``AIS_CRT_KEY``).
        skip_verify: do not verify TLS certificates (``AIS_SKIP_VERIFY_CRT``).
        list_page_size: entries per list-objects page (0 = cluster default, 10000 on AIS).
        shards_in_flight: shards streamed concurrently per consumer (WebDataset readers), so
            a shard in retry backoff does not stall the stream; each holds up to 4 parsed
            samples queued and the member being parsed (memory: about shards_in_flight × 5 ×
            the largest sample).
        max_member_size: largest archive member accepted in memory, in bytes.
        shuffle_buffer: samples held by a shuffle buffer.
        shuffle_buffer_bytes: bytes held by a shuffle buffer.
        batches_in_flight: get-batch requests in flight per consumer.
        batch_size: entries per get-batch request when the caller does not say.
        large_object_size: a whole-object ``get`` (and so ``get_many`` and the map datasets)
            of at least this many bytes reads the object as ``range_workers`` concurrent range
            GETs of at least ``range_size`` bytes each (0: never). Not with
            ``verify_checksums`` (a checksum covers the whole body, not ranges).
        range_workers: concurrent range GETs per large object.
        range_size: smallest range of a large-object read, in bytes.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    pool_size: int = 256
    keepalive_timeout: float = 15.0
    window: int = 64
    read_ahead: int = 512
    read_ahead_bytes: int = 64 << 20
    retry_attempts: int = 16
    backoff_base: float = 0.05
    backoff_cap: float = 2.0
    retry_budget: float = 120.0
    chunk_size: int = 1 << 20
    bridge_queue: int = 64
    verify_checksums: bool = False
    direct_reads: bool = True
    token: str | None = field(default=None, repr=False)
    token_from_env: bool = field(default=False, repr=False)
    ca_bundle: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    skip_verify: bool = False
    list_page_size: int = 0
    shards_in_flight: int = 8
    max_member_size: int = 1 << 30
    shuffle_buffer: int = 1000
    shuffle_buffer_bytes: int = 256 << 20
    batches_in_flight: int = 2
    batch_size: int = 64
    large_object_size: int = 64 << 20
    range_workers: int = 16
    range_size: int = 8 << 20

    def __post_init__(self) -> None:
        for name in ("pool_size", "window", "retry_attempts", "chunk_size", "bridge_queue"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ClientConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("read_ahead", "read_ahead_bytes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ClientConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("shards_in_flight", "batches_in_flight", "batch_size", "max_member_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ClientConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("range_workers", "range_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ClientConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("connect_timeout", "read_timeout", "backoff_base", "backoff_cap"):
            if getattr(self, name) < 0:
                raise ConfigError(f"ClientConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.retry_budget <= 0:
            raise ConfigError("ClientConfig.retry_budget must be > 0 seconds")
        if self.shuffle_buffer < 0 or self.shuffle_buffer_bytes < 0 or self.list_page_size < 0:
            raise ConfigError("shuffle buffers and list_page_size must be >= 0")
        if self.large_object_size < 0:
            raise ConfigError("ClientConfig.large_object_size must be >= 0 (0: never)")
        if (self.client_cert is None) != (self.client_key is None):
            raise ConfigError("mTLS needs both client_cert (AIS_CRT) and client_key (AIS_CRT_KEY)")

    def replace(self, **changes: Any) -> ClientConfig:
        """Return a copy with ``changes`` applied (validated again). A new ``token`` counts as
        passed explicitly unless ``token_from_env`` is given too."""
        if "token" in changes:
            changes.setdefault("token_from_env", False)
        return dataclasses.replace(self, **changes)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.token_from_env:
            state["token"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("token_from_env"):
            state = {**state, "token": _env_token(os.environ)}
        self.__dict__.update(state)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ClientConfig:
        """Build a config from the environment, then apply ``overrides``.

        Raises:
            ConfigError: an env var holds a value that is not a number/boolean, or a token
                file is unreadable.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if "AIS_CONNECT_TIMEOUT" in env:
            values["connect_timeout"] = _number(env, "AIS_CONNECT_TIMEOUT")
        if "AIS_READ_TIMEOUT" in env:
            values["read_timeout"] = _number(env, "AIS_READ_TIMEOUT")
        if "AIS_MAX_CONN_POOL" in env:
            values["pool_size"] = int(_number(env, "AIS_MAX_CONN_POOL"))
        token = _env_token(env)
        if token:
            values |= {"token": token, "token_from_env": True}
        if env.get("AIS_CLIENT_CA"):
            values["ca_bundle"] = env["AIS_CLIENT_CA"]
        if env.get("AIS_CRT") and env.get("AIS_CRT_KEY"):
            values["client_cert"] = env["AIS_CRT"]
            values["client_key"] = env["AIS_CRT_KEY"]
        skip = env.get("AIS_SKIP_VERIFY_CRT", env.get("AIS_SKIP_VERIFY"))
        if skip is not None:
            values["skip_verify"] = _boolean("AIS_SKIP_VERIFY_CRT", skip)
        if "token" in overrides:
            values["token_from_env"] = False
        values.update(overrides)
        return cls(**values)


def endpoint_from_env(endpoint: str | None = None) -> str:
    """Return ``endpoint`` or ``$AIS_ENDPOINT``, normalised (no trailing slash).

    Raises:
        ConfigError: neither is set, or the value is not an http(s) URL.
    """
    value = endpoint or os.environ.get("AIS_ENDPOINT", "")
    if not value:
        raise ConfigError(
            "no AIS endpoint: pass endpoint='http://host:port' or set AIS_ENDPOINT "
            "(for a local cluster run: python -m aisloader serve)"
        )
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"AIS endpoint must start with http:// or https://, got {value!r}")
    return value.rstrip("/")


def _number(env: Mapping[str, str], name: str) -> float:
    try:
        return float(env[name])
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds/count, got {env[name]!r}") from None


def _boolean(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in _TRUTHY:
        return True
    if low in _FALSY:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false, yes/no), got {value!r}")


def _env_token(env: Mapping[str, str]) -> str | None:
    """``AIS_AUTHN_TOKEN``, else the token file's (None when neither has one).

    Raises:
        ConfigError: the token file is unreadable.
    """
    return env.get("AIS_AUTHN_TOKEN") or _token_from_file(env)


def _token_from_file(env: Mapping[str, str]) -> str | None:
    explicit = env.get("AIS_AUTHN_TOKEN_FILE")
    path = Path(explicit or _DEFAULT_TOKEN_FILE).expanduser()
    if not path.is_file():
        if explicit:
            raise ConfigError(f"AIS_AUTHN_TOKEN_FILE={explicit!r} does not exist")
        return None
    try:
        data = json.loads(path.read_text())
        token = data["token"] if isinstance(data, dict) else None
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read the AuthN token file {str(path)!r}: {exc}") from exc
    return token if isinstance(token, str) and token else None

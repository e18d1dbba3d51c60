"""Bucket operations and list-objects, shared by :class:`~aisloader.core.client.AsyncClient`."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import msgspec

from aisloader.config import ClientConfig
from aisloader.core.http.session import Http, Request
from aisloader.core.http.wire import BucketEntry, LsoPage, ObjectEntry, action_body, lso_body
from aisloader.errors import BucketAlreadyExists, BucketNotFound, ConfigError, DataError
from aisloader.refs import Bucket, normalize_provider, parse_source_url

__all__ = ["BucketLike", "BucketOps", "as_bucket"]

BucketLike = Bucket | str
"""A :class:`Bucket`, a bucket name, or an ``ais://bucket`` URL."""

_JSON = {"Content-Type": "application/json"}
_LSO_HEADERS = {**_JSON, "Accept": "application/msgpack"}
_PAGE = msgspec.msgpack.Decoder(LsoPage)
_BUCKETS = msgspec.json.Decoder(list[BucketEntry])


class BucketOps:
    """Bucket create/head/list/destroy and list-objects (mixed into ``AsyncClient``)."""

    _http: Http
    config: ClientConfig

    async def create_bucket(self, bucket: BucketLike, *, exist_ok: bool = False) -> Bucket:
        """Create a bucket and return it.

        Raises:
            BucketAlreadyExists: it exists and ``exist_ok`` is false.
            AISError: other error answers. TransportError: network failure.
        """
        b = as_bucket(bucket)
        req = Request("POST", b.path, b.uri, False, b.query, _JSON, action_body("create-bck"))
        try:
            await self._http.fetch(req)
        except BucketAlreadyExists:
            if not exist_ok:
                raise
        return b

    async def head_bucket(self, bucket: BucketLike) -> dict[str, Any]:
        """The bucket's properties (``Ais-Bucket-Props``).

        Raises:
            BucketNotFound: no such bucket. AISError, TransportError: as usual.
        """
        b = as_bucket(bucket)
        resp, _ = await self._http.fetch(Request("HEAD", b.path, b.uri, False, b.query))
        props = resp.headers.get("Ais-Bucket-Props", "")
        try:
            out: dict[str, Any] = json.loads(props) if props else {}
        except ValueError as exc:
            raise DataError(f"{b.uri}: unreadable Ais-Bucket-Props header") from exc
        return out

    async def list_buckets(self, provider: str | None = None) -> list[Bucket]:
        """Buckets of ``provider`` (all providers when None).

        Raises:
            ConfigError: unknown provider. AISError, TransportError: as usual.
            DataError: unreadable answer.
        """
        try:
            params = {"provider": normalize_provider(provider) if provider else ""}
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        req = Request("GET", "/v1/buckets", "buckets", False, params, _JSON, action_body("list"))
        _, raw = await self._http.fetch(req)
        try:
            entries = _BUCKETS.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DataError(f"unreadable list-buckets answer: {exc}") from exc
        return [Bucket(e.name, e.provider, e.ns) for e in entries]

    async def destroy_bucket(self, bucket: BucketLike, *, missing_ok: bool = False) -> None:
        """Destroy a bucket and every object in it.

        Raises:
            BucketNotFound: no such bucket and ``missing_ok`` is false.
            AISError, TransportError: as usual.
        """
        b = as_bucket(bucket)
        req = Request("DELETE", b.path, b.uri, False, b.query, _JSON, action_body("destroy-bck"))
        try:
            await self._http.fetch(req)
        except BucketNotFound:
            if not missing_ok:
                raise

    async def list_objects(
        self,
        bucket: BucketLike,
        prefix: str = "",
        *,
        props: str = "name,size",
        page_size: int | None = None,
        flags: int = 0,
    ) -> AsyncGenerator[ObjectEntry, None]:
        """Iterate the bucket's objects, page by page (names sorted).

        Raises:
            BucketNotFound: no such bucket. AISError, TransportError: as usual.
            DataError: unreadable page, or the cluster repeated a continuation token.
        """
        b = as_bucket(bucket)
        size = self.config.list_page_size if page_size is None else page_size
        uuid, token, seen = "", "", set[str]()
        while True:
            body = lso_body(prefix, props, size, flags, uuid, token)
            req = Request("GET", b.path, b.uri, False, b.query, _LSO_HEADERS, body)
            _, raw = await self._http.fetch(req)
            page = _decode_page(raw, b)
            for entry in page.entries or ():
                yield entry
            if not page.token:
                return
            if page.token in seen:
                raise DataError(f"{b.uri}: the cluster repeated continuation token {page.token!r}")
            seen.add(page.token)
            uuid, token = page.uuid, page.token


def as_bucket(bucket: BucketLike) -> Bucket:
    """A :class:`Bucket` from a bucket, a name or an ``ais://bucket`` URL.

    Raises:
        ConfigError: not a valid bucket.
    """
    if isinstance(bucket, Bucket):
        return bucket
    try:
        if "://" in bucket:
            b, rest = parse_source_url(bucket)
            if rest:
                raise ValueError(f"{bucket!r} names an object, not a bucket")
            return b
        return Bucket(bucket)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _decode_page(raw: bytes, b: Bucket) -> LsoPage:
    try:
        return _PAGE.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DataError(f"{b.uri}: unreadable list-objects page: {exc}") from exc

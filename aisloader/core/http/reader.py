"""Reading one object's body with retries: a consumer never sees duplicated or missing bytes.

A body cut short (reset, short read, timeout) is re-requested from the proxy: with a ``Range``
for the rest when the object allows ranges, otherwise (an archive member, an ETL's output) from
the start, skipping what was already handed out. The object's version must not change between
attempts. A GET through a server-side ETL that answers 404 is told apart from a missing object
by one plain HEAD: if the object exists, the ETL is what is missing (:class:`ETLNotFound`).
"""

from __future__ import annotations

import dataclasses
import re

import aiohttp

from aisloader.core.http.checksum import Verifier
from aisloader.core.http.netfail import cut_short, transport_error
from aisloader.core.http.session import NETWORK_ERRORS, Http, Request
from aisloader.errors import ConfigError, DataError, ETLNotFound, IncompleteRead, ObjectNotFound
from aisloader.etl import Etl
from aisloader.refs import ObjectRef

__all__ = ["ByteRange", "ObjectReader", "range_header"]

ByteRange = tuple[int, int | None] | str
"""``(start, stop)`` half-open like a slice (``stop`` None = to the end), or ``"bytes=a-b"``."""

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def range_header(byte_range: ByteRange) -> str:
    """The ``Range`` header for ``byte_range``.

    Raises:
        ConfigError: a negative or empty range, or a malformed string.
    """
    if isinstance(byte_range, str):
        if not re.fullmatch(r"bytes=(\d+-\d*|-\d+)", byte_range.strip()):
            raise ConfigError(f"byte_range must look like 'bytes=a-b', got {byte_range!r}")
        return byte_range.strip()
    start, stop = byte_range
    if start < 0 or (stop is not None and stop <= start):
        raise ConfigError(f"byte_range must be (start >= 0, stop > start or None): {byte_range}")
    return f"bytes={start}-" if stop is None else f"bytes={start}-{stop - 1}"


class ObjectReader:
    """One object's body as chunks; call :meth:`read` until it returns ``b""``."""

    def __init__(
        self,
        http: Http,
        ref: ObjectRef,
        *,
        byte_range: ByteRange | None = None,
        archpath: str | None = None,
        etl: Etl | None = None,
    ) -> None:
        self._http = http
        self._ref = ref
        self._archpath = archpath
        self._etl = etl
        self._range = range_header(byte_range) if byte_range is not None else None
        if etl is not None and self._range is not None:
            raise ConfigError(f"{ref.uri}: a byte range cannot be read through {etl.describe()}")
        params = dict(ref.bucket.query)
        if archpath:
            params["archpath"] = archpath
        if etl is not None:
            params.update(etl.query())
        self._req = Request("GET", ref.path, ref.uri, True, params, uname=ref.uname)
        self._attempts = http.attempts()
        self._attempts.track()  # in flight until _finish (read to its end) or aclose
        self._resp: aiohttp.ClientResponse | None = None
        self.delivered = 0
        self.size: int | None = None  # bytes this read will deliver in total
        self._abs_start = 0  # absolute object offset of the first byte
        self._skip = 0
        self._version: str | None = None
        self._verifier: Verifier | None = None
        self._chunk = http.config.chunk_size

    async def open(self) -> aiohttp.ClientResponse:
        """Send the first request (or the next attempt) and return its headers' response.

        Raises:
            AISError: error answer (typed).
            TransportError: network failure after the retry budget.
        """
        while self._resp is None:
            try:
                resp = await self._http.send(self._with_range(), self._attempts)
            except ObjectNotFound as exc:
                if self._etl is not None:
                    await self._etl_or_object(exc)
                raise
            try:
                self._adopt(resp)
            except BaseException:
                resp.release()
                raise
            self._resp = resp
        return self._resp

    async def read(self) -> bytes:
        """The next chunk (up to ``chunk_size`` bytes), ``b""`` at the end.

        Raises:
            AISError: error answer on a re-read.
            TransportError: network failure after the retry budget.
            IncompleteRead: the body kept ending early until the budget was spent.
            ChecksumMismatch: with ``verify_checksums``, at the end of a full read.
        """
        while True:
            resp = await self.open()
            try:
                chunk = await resp.content.read(self._chunk)
            except NETWORK_ERRORS as exc:
                err = transport_error(exc, self._ref.uri, self._attempts.number)
                await self._retry(err, at_once=cut_short(exc))
                continue
            if chunk and self._skip:
                n = min(self._skip, len(chunk))
                chunk, self._skip = chunk[n:], self._skip - n
                if not chunk:
                    continue
            if chunk:
                return self._deliver(chunk)
            if self.size is not None and self.delivered < self.size:
                short = IncompleteRead(
                    f"{self._ref.uri}: body ended at {self.delivered} of {self.size} bytes"
                )
                await self._retry(short, at_once=True)
                continue
            self._finish()
            return b""

    @property
    def version(self) -> str | None:
        """The object version the first answer reported (None before it)."""
        return self._version

    async def aclose(self) -> None:
        """Release the connection (idempotent); a read not finished by then is abandoned."""
        self._release()
        self._attempts.finished(False)

    def _release(self) -> None:
        resp, self._resp = self._resp, None
        if resp is not None:
            resp.release()

    def _deliver(self, chunk: bytes) -> bytes:
        self.delivered += len(chunk)
        if self.size is not None and self.delivered > self.size:
            raise DataError(f"{self._ref.uri}: body longer than its declared {self.size} bytes")
        if self._verifier is not None:
            self._verifier.update(chunk)
        self._attempts.received(len(chunk))
        return chunk

    def _finish(self) -> None:
        resp, self._resp = self._resp, None
        if resp is not None:
            resp.release()
        if self._verifier is not None:
            self._verifier.check(self._ref.uri)
        self._attempts.finished(True)

    async def restart(self, err: Exception) -> None:
        """Read the whole object again from its start (after ``err``, e.g. a checksum
        mismatch found at the end), within the same retry budget as every other retry.

        Raises:
            Exception: ``err`` itself once the attempts or the budget are spent.
        """
        await self._retry(err)
        self.delivered, self.size, self._abs_start, self._skip = 0, None, 0, 0
        self._version, self._verifier = None, None

    async def _retry(self, err: Exception, *, at_once: bool = False) -> None:
        self._release()
        await self._attempts.again(err, at_once=at_once)

    async def _etl_or_object(self, exc: ObjectNotFound) -> None:
        """Raise :class:`ETLNotFound` when the object exists (so the ETL is what is missing)."""
        assert self._etl is not None
        params = {k: v for k, v in self._req.params.items() if not k.startswith("etl_")}
        head = Request("HEAD", self._ref.path, self._ref.uri, True, params, uname=self._ref.uname)
        try:
            resp = await self._http.send(head, self._http.attempts())
        except ObjectNotFound:
            return  # the object itself is missing: the original error stands
        resp.release()
        raise ETLNotFound(
            exc.status, exc.tcode, self._ref.uri, f"{self._etl.describe()} is not on the cluster"
        ) from exc

    def _with_range(self) -> Request:
        header = self._range
        if self.delivered and self.size is not None and not self._archpath and not self._etl:
            first = self._abs_start + self.delivered
            header = f"bytes={first}-{self._abs_start + self.size - 1}"
        if header is None:
            return self._req
        return dataclasses.replace(self._req, headers={"Range": header})

    def _adopt(self, resp: aiohttp.ClientResponse) -> None:
        version = resp.headers.get("Ais-Version", "")
        if self._version is None:
            self._first(resp)
            self._version = version
            return
        if version != self._version:
            raise DataError(f"{self._ref.uri} changed (version {version}) while being read")
        start = _range_start(resp) if resp.status == 206 else 0
        self._skip = self._abs_start + self.delivered - start
        if self._skip < 0:
            raise DataError(f"{self._ref.uri}: re-read started past the bytes already read")

    def _first(self, resp: aiohttp.ClientResponse) -> None:
        if self._range is not None and resp.status != 206:
            raise DataError(f"{self._ref.uri}: asked for {self._range}, got HTTP {resp.status}")
        self.size = resp.content_length
        if resp.status == 206:
            self._abs_start = _range_start(resp)
        full = self._range is None and not self._archpath and not self._etl and resp.status == 200
        if full and self._http.config.verify_checksums:
            self._verifier = Verifier.from_headers(resp.headers)


def _range_start(resp: aiohttp.ClientResponse) -> int:
    m = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", ""))
    if m is None:
        raise DataError(f"206 answer without a usable Content-Range from {resp.url.host}")
    return int(m[1])

"""The aisloader exception tree.

Split by what the caller does next::

    AISLoaderError
    ├── ConfigError            bad configuration or arguments: fix the call, do not retry
    │   └── ResumeError        a resume state that does not fit this dataset or layout
    ├── TransportError         network failure after the retry budget was spent (retryable later)
    ├── AISError               the cluster answered with an error status (status, tcode, url)
    │   ├── NotFound
    │   │   ├── BucketNotFound
    │   │   ├── ObjectNotFound     (also a missing archive member / get-batch entry)
    │   │   └── ETLNotFound        the object exists, the ETL asked for does not
    │   ├── BucketAlreadyExists
    │   ├── AccessDenied           401 / 403
    │   ├── RangeNotSatisfiable    416
    │   ├── Throttled              429 after retries
    │   └── ServiceUnavailable     5xx after retries
    ├── DataError              bytes arrived but are not what they must be
    │   ├── IncompleteRead         body shorter than Content-Length after retries
    │   ├── ChecksumMismatch
    │   └── ShardFormatError       corrupt/truncated archive (names the shard and byte offset)
    └── SampleError            a WebDataset sample breaks a key rule (duplicate/missing part)

AIS errors are mapped on HTTP status first and refined by the ``tcode`` field of the AIS error
body; never by message text. aiohttp and msgspec exceptions are translated in one place
(``aisloader.core.http.session``) with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "AISError",
    "AISLoaderError",
    "AccessDenied",
    "BucketAlreadyExists",
    "BucketNotFound",
    "ChecksumMismatch",
    "ConfigError",
    "DataError",
    "ETLNotFound",
    "IncompleteRead",
    "NotFound",
    "ObjectNotFound",
    "RangeNotSatisfiable",
    "ResumeError",
    "SampleError",
    "ServiceUnavailable",
    "ShardFormatError",
    "Throttled",
    "TransportError",
    "error_from_response",
]


class AISLoaderError(Exception):
    """Base of every error raised by aisloader."""


class ConfigError(AISLoaderError, ValueError):
    """Invalid configuration or arguments (missing endpoint, bad option, bad source)."""


class ResumeError(ConfigError):
    """A resume state that this dataset cannot continue from (another dataset, listing,
    order or layout); the message says which and what to do."""


class TransportError(AISLoaderError):
    """The network failed (refused, reset, timed out) and the retry budget is spent.

    Attributes:
        url: the ``ais://bucket/object`` (or HTTP URL) being accessed.
        attempts: how many attempts were made.
    """

    def __init__(self, message: str, *, url: str = "", attempts: int = 0) -> None:
        super().__init__(message)
        self.url = url
        self.attempts = attempts


class AISError(AISLoaderError):
    """The cluster answered with an error.

    Attributes:
        status: HTTP status code.
        tcode: AIS error type code from the error body (e.g. ``ErrNotFound``), or ``""``.
        url: ``ais://bucket[/object]`` the request was about.
        message: the cluster's message (may be empty, e.g. for HEAD).
    """

    def __init__(
        self, status: int | str, tcode: str = "", url: str = "", message: str = ""
    ) -> None:
        if isinstance(status, str):
            # Rebuilt from a rendered message: torch's DataLoader re-raises a worker's exception
            # as ``type(exc)(text)``; accepting that keeps the error typed in the training loop.
            self.status, self.tcode, self.url, self.message = 0, "", "", status
            super().__init__(status)
            return
        self.status = status
        self.tcode = tcode
        self.url = url
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"{self.url}: HTTP {self.status}"
        if self.tcode:
            text += f" ({self.tcode})"
        if self.message:
            text += f": {self.message}"
        hint = self.hint()
        return f"{text}. {hint}" if hint else text

    def hint(self) -> str:
        """What the user can do about it ('' when nothing useful can be said)."""
        return ""

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the typed error intact across DataLoader worker processes.
        return (self.__class__, (self.status, self.tcode, self.url, self.message))


class NotFound(AISError):
    """A bucket, object or archive member does not exist."""

    def hint(self) -> str:
        return "Check the name and the provider/namespace, or list the bucket to see what exists."


class BucketNotFound(NotFound):
    """The bucket does not exist."""

    def hint(self) -> str:
        return "Create it first or check the bucket name and provider."


class ObjectNotFound(NotFound):
    """The object (or the archive member / batch entry) does not exist."""


class ETLNotFound(NotFound):
    """A GET asked for a server-side ETL that the cluster does not run (the object exists)."""

    def hint(self) -> str:
        return "Start the ETL on the cluster (ais etl init ...) or check etl_name."


class BucketAlreadyExists(AISError):
    """Bucket creation found the bucket already there (use ``exist_ok=True``)."""

    def hint(self) -> str:
        return "Pass exist_ok=True to accept an existing bucket."


class AccessDenied(AISError):
    """401/403: missing or insufficient credentials, or direct target access refused."""

    def hint(self) -> str:
        return "Set AIS_AUTHN_TOKEN (or pass a token in ClientConfig) with the needed permissions."


class RangeNotSatisfiable(AISError):
    """416: the byte range lies outside the object."""


class Throttled(AISError):
    """429 after the retry budget was spent."""

    def hint(self) -> str:
        return "The cluster is rate-limiting: lower the window or raise retry attempts/budget."


class ServiceUnavailable(AISError):
    """5xx after the retry budget was spent."""

    def hint(self) -> str:
        return "The cluster is failing or overloaded; retry later or raise the retry budget."


class DataError(AISLoaderError):
    """Bytes arrived but are not what they must be."""


class IncompleteRead(DataError):
    """A body ended before its declared length, and re-reading did not help."""


class ChecksumMismatch(DataError):
    """The bytes do not match the cluster's checksum header."""


class ShardFormatError(DataError):
    """A shard (archive) is corrupt or truncated.

    Attributes:
        shard: ``ais://bucket/shard`` (or a local description).
        offset: byte offset in the (uncompressed) archive stream where parsing failed.
    """

    def __init__(self, shard: str, offset: int = -1, reason: str = "") -> None:
        self.shard = shard
        self.offset = offset
        self.reason = reason
        if offset < 0 and not reason:  # rebuilt from a rendered message (see AISError)
            super().__init__(shard)
            return
        super().__init__(
            f"{shard}: corrupt or truncated archive at byte {offset}: {reason}. "
            "Re-create the shard, or use the 'skip' error policy to skip bad shards."
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (self.__class__, (self.shard, self.offset, self.reason))


class SampleError(DataError):
    """A WebDataset sample violates a key rule (duplicate extension, missing component)."""


_BY_TCODE: dict[str, type[AISError]] = {
    "ErrBckNotFound": BucketNotFound,
    "ErrRemoteBckNotFound": BucketNotFound,
    "ErrBucketAlreadyExists": BucketAlreadyExists,
    "ErrRangeNotSatisfiable": RangeNotSatisfiable,
    "ErrTooManyRequests": Throttled,
}

_BY_STATUS: dict[int, type[AISError]] = {
    401: AccessDenied,
    403: AccessDenied,
    404: NotFound,
    416: RangeNotSatisfiable,
    429: Throttled,
}


def error_from_response(
    status: int, tcode: str, url: str, message: str, *, about_object: bool
) -> AISError:
    """Build the typed error for an AIS error answer.

    Maps on HTTP status first, then refines with ``tcode``; message text is never parsed.

    Args:
        status: HTTP status.
        tcode: AIS ``tcode`` ('' if absent).
        url: ``ais://bucket[/object]`` the request was about.
        message: the cluster's message ('' when the body was empty).
        about_object: the request addressed an object (a bare 404 then means the object).
    """
    cls: type[AISError] = _BY_STATUS.get(status, AISError)
    refined = _BY_TCODE.get(tcode)
    if refined is not None and (cls is AISError or issubclass(refined, cls)):
        cls = refined
    elif cls is NotFound:
        cls = ObjectNotFound if about_object else BucketNotFound
    elif cls is AISError and status >= 500:
        cls = ServiceUnavailable
    return cls(status, tcode, url, message)

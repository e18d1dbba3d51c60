"""The aisloader exception tree.

Split by what the caller does next::

    AISLoaderError
    ├── ConfigError            bad configuration or arguments: fix the call, do not retry
    │   ├── ResumeError        a resume state that does not fit this dataset or layout
    │   └── SkipNeedsBatches   on_error="skip" met an unreadable object read by one index
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

**Round trips: the message is the record.** An error must reach the process that handles it
whole: pickled, and rebuilt by torch, whose worker error path (``ExceptionWrapper.reraise`` in
``torch/_utils.py``) ships ``traceback.format_exception`` text and raises ``exc_type(text)``. So
an error with fields renders them as ONE line, its ``str()``, a sentence that parses back: a
free-text value is written as it is unless it could be misread (not printable, a leading quote,
or it holds the words that follow it), then as a Python string literal. ``cls(text)`` reads the
fields from ``text`` when it is one line, else from the last ``module.Class: <line>`` line of
the traceback (notes follow it), and takes a line only if rendering what it read gives the line
back exactly; other text leaves the fields unknown (0, "", -1) and becomes the free-text field
(the line formats and these rules: :mod:`aisloader._errtext`).
``args`` is that one text, so pickling is plain ``BaseException`` (args, then ``__dict__``):
fields and notes come back as they were. A registry keyed by message cannot work (torch writes
the text in the worker process). No class may have a class attribute ``message``: torch would
then call ``exc_type(message=text)``.
"""

from __future__ import annotations

import functools
import re

from aisloader import _errtext as _text

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
    "SkipNeedsBatches",
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


class SkipNeedsBatches(ConfigError):
    """A map-style dataset with ``on_error="skip"`` could not read the object of a single
    index: only a batch (``__getitems__``, which a DataLoader with ``batch_size`` calls) can
    leave an object out; one index has nothing to return in its place. The object's own error
    is the ``__cause__``."""


class TransportError(AISLoaderError):
    """The network failed (refused, reset, timed out) and the retry budget is spent.

    Attributes:
        message: what failed, as the transport layer wrote it.
        url: the ``ais://bucket/object`` (or HTTP URL) being accessed.
        attempts: how many attempts were made.
    """

    def __init__(self, message: str, *, url: str = "", attempts: int = 0) -> None:
        super().__init__(self._setup(message, url, attempts))

    def _setup(self, message: str, url: str, attempts: int) -> str:
        """Set the fields (parsed from a bare text, module docs); return the text."""
        if not (url or attempts):  # TransportError(text): the text is kept as it is
            line, fields = _text.TRANSPORT_LINE, _text.TRANSPORT_FIELDS
            parsed = _text.parse(type(self), message, line, fields, _text.net_text)
            if parsed is not None:
                self.message, self.url, self.attempts = parsed
                return message
        self.message, self.url, self.attempts = message, url, attempts
        return _text.net_text(message, url, attempts)


class AISError(AISLoaderError):
    """The cluster answered with an error.

    Attributes:
        status: HTTP status code.
        tcode: AIS error type code from the error body (e.g. ``ErrNotFound``), or ``""``.
        url: ``ais://bucket[/object]`` the request was about.
        message: the cluster's message (may be empty, e.g. for HEAD).
    """

    _hint = ""

    def __init__(
        self, status: int | str, tcode: str = "", url: str = "", message: str = ""
    ) -> None:
        super().__init__(self._setup(status, tcode, url, message))

    def _setup(self, status: int | str, tcode: str, url: str, message: str) -> str:
        """Set the fields (parsed when ``status`` is a text, module docs); return the text."""
        if isinstance(status, str):
            hint = self.hint()
            render = functools.partial(_text.ais_text, hint=hint)
            parsed = _text.parse(type(self), status, _text.ais_line(hint), _text.AIS_FIELDS, render)
            self.status, self.tcode, self.url, self.message = parsed or (0, "", "", status)
            return status
        self.status, self.tcode, self.url, self.message = status, tcode, url, message
        return _text.ais_text(status, tcode, url, message, self.hint())

    def hint(self) -> str:
        """What the user can do about it ('' when nothing useful can be said)."""
        return self._hint


class NotFound(AISError):
    """A bucket, object or archive member does not exist."""

    _hint = "Check the name and the provider/namespace, or list the bucket to see what exists."


class BucketNotFound(NotFound):
    """The bucket does not exist."""

    _hint = "Create it first or check the bucket name and provider."


class ObjectNotFound(NotFound):
    """The object (or the archive member / batch entry) does not exist."""


class ETLNotFound(NotFound):
    """A GET asked for a server-side ETL that the cluster does not run (the object exists)."""

    _hint = "Start the ETL on the cluster (ais etl init ...) or check etl_name."


class BucketAlreadyExists(AISError):
    """Bucket creation found the bucket already there (use ``exist_ok=True``)."""

    _hint = "Pass exist_ok=True to accept an existing bucket."


class AccessDenied(AISError):
    """401/403: missing or insufficient credentials, or direct target access refused."""

    _hint = "Set AIS_AUTHN_TOKEN (or pass a token in ClientConfig) with the needed permissions."


class RangeNotSatisfiable(AISError):
    """416: the byte range lies outside the object."""


class Throttled(AISError):
    """429 after the retry budget was spent."""

    _hint = "The cluster is rate-limiting: lower the window or raise retry attempts/budget."


class ServiceUnavailable(AISError):
    """5xx after the retry budget was spent."""

    _hint = "The cluster is failing or overloaded; retry later or raise the retry budget."


class DataError(AISLoaderError):
    """Bytes arrived but are not what they must be."""


class IncompleteRead(DataError):
    """A body ended before its declared length, and re-reading did not help."""


class ChecksumMismatch(DataError):
    """The bytes do not match the cluster's checksum header."""


class ShardFormatError(DataError):
    """A shard (archive) is corrupt or truncated.

    Attributes:
        shard: ``ais://bucket/shard``, a local description, or the get-batch request.
        offset: byte offset in the (uncompressed) archive stream where parsing failed, or -1
            when unknown.
        reason: what is wrong there.
    """

    def __init__(self, shard: str, offset: int = -1, reason: str = "") -> None:
        if offset < 0 and not reason:  # ShardFormatError(text): a rebuild (module docs)
            line, names = _text.SHARD_LINE, _text.SHARD_FIELDS
            fields = _text.parse(type(self), shard, line, names, _text.shard_text)
            self.shard, self.offset, self.reason = fields or ("", -1, shard)
            super().__init__(shard)
            return
        self.shard, self.offset, self.reason = shard, offset, reason
        super().__init__(_text.shard_text(shard, offset, reason))


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

    Maps on HTTP status first, then refines with ``tcode``; message text is never parsed, only
    stripped of the node that wrote it (``t[tAZSuaFa]: ``: an internal id that tells a user
    nothing; 5xx keep it, to say which node failed).

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
    if status < 500:
        message = _NODE.sub("", message, count=1)
    return cls(status, tcode, url, message)


_NODE = re.compile(r"^[pt]\[[^\]\s]{1,64}\]:\s*")
"""The ``p[ID]: `` / ``t[ID]: `` an AIS node puts before its messages."""

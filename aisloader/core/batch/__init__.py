"""Get-batch (AIS ``/v1/ml/moss``): entries, the archive answers, and the fetcher.

* :mod:`.entry` — :class:`BatchEntry` (object, archive member or range) and the answer check.
* :mod:`.archive` — reading a streamed ``.tar``/``.tgz``/``.zip`` answer or a multipart one.
* :mod:`.fetcher` — :class:`BatchFetcher`: requests in flight, tail re-requests, fallback.
"""

from aisloader.core.batch.entry import BatchEntry, BatchValue, OutputFormat
from aisloader.core.batch.fetcher import BatchFetcher

__all__ = ["BatchEntry", "BatchFetcher", "BatchValue", "OutputFormat"]

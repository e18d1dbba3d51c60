"""``StallMeter``: how much of the training loop's time goes to waiting for data.

Wrap whatever the loop iterates (a DataLoader, a dataset, any iterable)::

    meter = StallMeter(every=100, callback=print, dataset=dataset)
    for batch in meter.watch(loader):
        train(batch)
    meter.log()  # "the training loop waited 37% of the time on data (…): raise …"

Time blocked in ``next()`` is *wait*; time between getting a batch and asking for the next one
is *busy* (the loop body). The first ``next()`` of each :meth:`StallMeter.watch` starts the
loader (workers, listing) and is reported apart as ``startup_s``, not as a wait. Two clock
reads per batch; wait times go into a bounded histogram (p50/p99).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

from aisloader.core.stats import Histogram

__all__ = ["StallMeter", "verdict_of"]

T = TypeVar("T")

_log = logging.getLogger("aisloader.stall")


class StallMeter:
    """Measures the training loop's wait for data (module docs).

    Args:
        every: call ``callback`` with :meth:`report` every ``every`` batches (0: never).
        callback: what to call every ``every`` batches.
        threshold: the share of time spent waiting above which the loader is the bottleneck
            (default 0.10).
        dataset: an aisloader dataset; its ``stats()`` go into the report (``"io"``) and
            sharpen the advice (retries, tail latency).
        clock: seconds as a float (default ``time.perf_counter``; tests pass a fake one).

    Raises:
        ValueError: ``every`` < 0, a ``callback`` without ``every`` (or the reverse), or a
            threshold outside (0, 1).
    """

    def __init__(
        self,
        *,
        every: int = 0,
        callback: Callable[[dict[str, Any]], object] | None = None,
        threshold: float = 0.10,
        dataset: Any = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if every < 0 or (every > 0) != (callback is not None):
            raise ValueError("give both every >= 1 and callback, or neither")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be a share of time in (0, 1), got {threshold}")
        self.every, self.callback, self.threshold = every, callback, threshold
        self.dataset, self._clock = dataset, clock
        self.reset()

    def reset(self) -> None:
        """Forget every measurement."""
        self.batches = 0
        self.wait = self.busy = self.startup = 0.0
        self._waits = Histogram()

    def watch(self, iterable: Iterable[T]) -> Generator[T, None, None]:
        """The items of ``iterable``, unchanged, with the time around each ``next()`` and each
        loop body measured."""
        it, clock, first = iter(iterable), self._clock, True
        try:
            while True:
                start = clock()
                try:
                    item = next(it)
                except StopIteration:
                    return
                got = clock()
                if first:
                    self.startup += got - start
                    first = False
                else:
                    self.wait += got - start
                    self._waits.record(got - start)
                self.batches += 1
                yield item
                self.busy += clock() - got
                if self.every and self.batches % self.every == 0 and self.callback is not None:
                    self.callback(self.report())
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    def report(self) -> dict[str, Any]:
        """``batches``, ``wait_s``, ``busy_s``, ``wait_share`` (of wait + busy),
        ``wait_p50_ms``/``wait_p99_ms`` (per batch; None before the second batch),
        ``startup_s``, ``stalled`` (``wait_share`` ≥ the threshold), ``verdict`` (one line)
        and, with a ``dataset``, ``io``: its ``stats()``."""
        total = self.wait + self.busy
        share = self.wait / total if total > 0 else 0.0
        out: dict[str, Any] = {
            "batches": self.batches,
            "wait_s": self.wait,
            "busy_s": self.busy,
            "wait_share": share,
            "wait_p50_ms": _ms(self._waits.quantile(0.5)),
            "wait_p99_ms": _ms(self._waits.quantile(0.99)),
            "startup_s": self.startup,
            "stalled": self.batches > 1 and share >= self.threshold,
        }
        if self.dataset is not None:
            out["io"] = self.dataset.stats()
        out["verdict"] = verdict_of(out, out.get("io"))
        return out

    def verdict(self) -> str:
        """One line: how much the loop waited on data, and what to change if too much."""
        return str(self.report()["verdict"])

    def log(self, level: int = logging.INFO) -> str:
        """Log :meth:`verdict` on the ``aisloader.stall`` logger; return it."""
        text = self.verdict()
        _log.log(level, "%s", text)
        return text


def verdict_of(report: dict[str, Any], io: dict[str, Any] | None = None) -> str:
    """The one-line verdict on a :meth:`StallMeter.report` (and the dataset's ``stats()``)."""
    if report["batches"] < 2:
        return "not enough batches measured yet (the first one only starts the loader)"
    waited = f"the training loop waited {report['wait_share']:.0%} of the time on data"
    if not report["stalled"]:
        return f"{waited}: the loader keeps up (the training step is the bottleneck)"
    p50, p99 = report["wait_p50_ms"], report["wait_p99_ms"]
    per_batch = f" (per batch: {p50:.1f} ms at p50, {p99:.1f} ms at p99)"
    advice = [
        "raise window, num_workers or prefetch_factor",
        "for small objects fetch each batch with get-batch (use_batch_api=True)",
    ]
    if io:
        lat50, lat99 = io.get("latency_p50_ms"), io.get("latency_p99_ms")
        if lat50 and lat99 and lat99 > 4 * lat50:
            advice.insert(0, f"GETs have a latency tail (p99 {lat99:.1f} ms, p50 {lat50:.1f} ms)")
        retries, requests = io.get("retries", 0), io.get("requests", 0)
        if retries and retries >= 0.01 * max(requests, 1):
            causes = ", ".join(f"{k}: {v}" for k, v in io.get("retries_by_cause", {}).items())
            advice.insert(0, f"check the cluster first: {retries} retries ({causes})")
    return f"{waited}{per_batch}: the loader is the bottleneck; " + "; ".join(advice)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e3, 3)

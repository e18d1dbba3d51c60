"""Every typed error crosses processes whole: pickled, and rebuilt the way torch rebuilds a
DataLoader worker's error (``ExceptionWrapper.reraise``: ``exc_type(text)`` with only the
formatted traceback), and ``cls(str(e))`` gives it back too, with every field; for our classes,
for their SDK-compatible twins in ``aisloader.torch.errors``, and for ``SkipBudgetExceeded``
with its report."""

from __future__ import annotations

import pickle
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch._utils import ExceptionWrapper

from aisloader import errors
from aisloader.core.streams.skips import SkipBudgetExceeded, SkipLog, Skipped
from aisloader.torch import errors as compat

ROUND = settings(max_examples=150, deadline=None, derandomize=True)


def example(cls: type[Exception]) -> Exception:
    """An instance of ``cls`` with every field set."""
    if issubclass(cls, errors.AISError):
        return cls(404, "ErrNotFound", "ais://b/o", "object ais://b/o does not exist")
    if issubclass(cls, errors.ShardFormatError):
        return cls("ais://b/s.tar", 1536, "corrupt header: header checksum mismatch")
    if issubclass(cls, errors.TransportError):
        return cls("ais://b/o: network failure (ClientOSError: reset)", url="ais://b/o", attempts=3)
    return cls("ais://b/o: something is wrong; do this")


def other(cls: type[Exception]) -> Exception:
    """An instance of ``cls`` with other fields than :func:`example`'s."""
    if issubclass(cls, errors.AISError):
        return cls(503, "ErrCause", "ais://cause/x", "the cause")
    if issubclass(cls, errors.ShardFormatError):
        return cls("ais://cause/s.tar", 7, "the cause")
    if issubclass(cls, errors.TransportError):
        return cls("the cause", url="ais://cause/x", attempts=9)
    return cls("the cause")


OURS = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
TWINS = [type(compat.as_sdk_error(example(c))) for c in OURS]
CLASSES = OURS + [t for t in TWINS if t.__module__ == compat.__name__]


def fields(exc: BaseException) -> dict[str, Any]:
    """What an error carries besides its text and notes."""
    return {k: v for k, v in vars(exc).items() if k != "__notes__"}


def through_a_worker(exc: Exception) -> BaseException:
    """``exc`` raised in a "worker" (with a note and a cause of the same class), sent as torch
    sends it (the wrapper, pickled) and re-raised as torch re-raises it."""
    try:
        try:
            raise other(type(exc))  # the cause: a look-alike with other fields
        except Exception as cause:
            exc.add_note("while reading shard 3 of 8")
            raise exc from cause
    except Exception:
        where = "in DataLoader worker process 1"
        wrapper = ExceptionWrapper(sys.exc_info(), where=where)  # type: ignore[no-untyped-call]
    try:
        pickle.loads(pickle.dumps(wrapper)).reraise()
    except Exception as again:
        return again
    raise AssertionError("reraise() did not raise")


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_class_survives_text_pickle_and_worker(cls: type[Exception]) -> None:
    exc = example(cls)
    assert type(exc) is cls
    text = type(exc)(str(exc))
    assert (type(text), fields(text), str(text)) == (cls, fields(exc), str(exc))

    exc.add_note("a note")
    copy = pickle.loads(pickle.dumps(exc))
    assert (type(copy), fields(copy), copy.args) == (cls, fields(exc), exc.args)
    assert copy.__notes__ == ["a note"]

    again = through_a_worker(exc)
    assert type(again) is cls
    assert fields(again) == fields(exc)
    assert "in DataLoader worker process 1" in str(again)  # torch's text stays the message


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_no_class_attribute_message(cls: type[Exception]) -> None:
    """torch calls ``exc_type(message=text)`` for a class with a truthy ``message``
    attribute, which our constructors do not take."""
    assert not getattr(cls, "message", None)


def test_sdk_twins_carry_the_sdk_fields_across() -> None:
    twin = compat.as_sdk_error(example(errors.ObjectNotFound))
    assert isinstance(twin, errors.ObjectNotFound)
    again = through_a_worker(twin)
    assert (again.status_code, again.req_url, again.message) == (  # type: ignore[attr-defined]
        404,
        "ais://b/o",
        "object ais://b/o does not exist",
    )


def test_foreign_text_is_kept_with_unknown_fields() -> None:
    text = "Caught ObjectNotFound in DataLoader worker process 0: no line of ours here"
    err = errors.ObjectNotFound(text)
    assert (str(err), err.status, err.url, err.message) == (text, 0, "", text)
    shard = errors.ShardFormatError(text)
    assert (str(shard), shard.shard, shard.offset, shard.reason) == (text, "", -1, text)


PIECES = st.sampled_from(["a", " ", "'", '"', "\\", "\n", "(", ")", ":", ".", "é", "\udcff"])
WORDS = st.sampled_from([": HTTP ", ": HTTP 404", ". Check", " (attempt 1 on x)", ": corrupt or "])
NASTY = st.lists(PIECES | WORDS, max_size=8).map("".join)
"""Text that tries every way to be misread: quotes, escapes, newlines, surrogates, and the
words that separate fields in a message."""


def _survives(exc: Exception) -> None:
    text = type(exc)(str(exc))
    assert fields(text) == fields(exc)
    assert "\n" not in str(exc)  # one line: what torch's traceback gives back whole
    assert fields(through_a_worker(exc)) == fields(exc)


@ROUND
@given(
    cls=st.sampled_from([c for c in CLASSES if issubclass(c, errors.AISError)]),
    status=st.integers(100, 599),
    tcode=NASTY,
    url=NASTY,
    message=NASTY,
)
def test_any_ais_error_fields_survive(
    cls: type[errors.AISError], status: int, tcode: str, url: str, message: str
) -> None:
    _survives(cls(status, tcode, url, message))


@ROUND
@given(shard=NASTY, offset=st.integers(-1, 1 << 40), reason=NASTY)
def test_any_shard_error_fields_survive(shard: str, offset: int, reason: str) -> None:
    if offset >= 0 or reason:  # else the call means "rebuild from this text"
        _survives(errors.ShardFormatError(shard, offset, reason))


@ROUND
@given(message=NASTY, url=NASTY, attempts=st.integers(0, 99))
def test_any_transport_error_fields_survive(message: str, url: str, attempts: int) -> None:
    _survives(errors.TransportError(message, url=url, attempts=attempts))


def _budget_error(report: list[dict[str, Any]]) -> SkipBudgetExceeded:
    return SkipBudgetExceeded("3 objects could not be read; fix the data", report)


ENTRY = st.fixed_dictionaries(
    {"object": NASTY, "error": NASTY, "attempts": st.integers(0, 99)}
) | st.dictionaries(st.sampled_from(["object", "error", "x"]), NASTY, max_size=3)
"""A report entry as SkipLog writes it (any text), or one of another shape."""


@settings(max_examples=40, deadline=None, derandomize=True)
@given(report=st.lists(ENTRY, max_size=5), note=st.booleans())
def test_a_skip_report_survives_text_pickle_and_worker(
    report: list[dict[str, Any]], note: bool
) -> None:
    exc = _budget_error(report)
    if note:
        exc.add_note("while reading part 1/2")
    _survives(exc)
    assert exc.report == report
    assert pickle.loads(pickle.dumps(exc)).report == report
    again = through_a_worker(exc)
    assert type(again) is SkipBudgetExceeded
    assert "in DataLoader worker process 1" in str(again)


def test_a_full_skip_report_stays_a_few_kib() -> None:
    """SkipLog keeps at most KEEP entries: all of them travel, packed (an object's name is
    not written again inside its error)."""
    skips = []
    for i in range(SkipLog.KEEP):
        uri = f"ais://train/images/{i * 7919 % 100_000:06d}.jpg"
        cause = errors.ObjectNotFound(404, "ErrNotFound", uri, f"object {uri} does not exist")
        skips.append(Skipped.of(uri, cause))
    log = SkipLog(SkipLog.KEEP - 1, 0)
    for skipped in skips[:-1]:
        log.record(skipped)
    with pytest.raises(SkipBudgetExceeded) as info:
        log.record(skips[-1])
    exc = info.value
    assert len(exc.report) == SkipLog.KEEP
    assert len(str(exc)) < 10_000
    assert through_a_worker(exc).report == exc.report  # type: ignore[attr-defined]


def test_foreign_text_gives_an_empty_report() -> None:
    text = "Caught SkipBudgetExceeded in DataLoader worker process 0: no line of ours here"
    assert SkipBudgetExceeded(text).report == []
    cut = str(_budget_error([{"object": "o", "error": "e", "attempts": 1}]))[:-5] + "]"
    assert SkipBudgetExceeded(cut).report == []  # a damaged packed report is not half read


def test_client_errors_do_not_show_the_internal_node_id() -> None:
    from aisloader.errors import error_from_response

    missing = error_from_response(
        404, "ErrNotFound", "ais://b/o", "t[tAZSuaFa]: ais://b/o does not exist", about_object=True
    )
    assert missing.message == "ais://b/o does not exist"
    assert "tAZSuaFa" not in str(missing)
    failing = error_from_response(500, "", "ais://b/o", "t[tAZSuaFa]: disk", about_object=True)
    assert "t[tAZSuaFa]" in str(failing)  # a 5xx says which node failed

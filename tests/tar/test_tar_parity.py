"""The tar oracle: our streaming parser reports what stdlib tarfile reports on the same bytes."""

from __future__ import annotations

import gzip
import itertools
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .gen import FORMATS, as_tuples, build, chunks, oracle, parse, specs

SETTINGS = settings(
    max_examples=int(os.environ.get("TAR_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CHUNK_SIZES = st.one_of(
    st.lists(st.integers(1, 70_000), min_size=1, max_size=6),
    st.lists(st.integers(1, 600), min_size=1, max_size=6),
    st.just([1]),
)
GLOBAL_PAX = st.one_of(st.none(), st.just({"comment": "global ü", "aisloader.v": "1"}))


@st.composite
def shards(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from(FORMATS))
    members = draw(specs(fmt))
    # tarfile refuses a global header with no member after it; we accept it (tested apart).
    global_pax = draw(GLOBAL_PAX) if fmt == FORMATS[2] and members else None
    return build(members, fmt, global_pax)


@SETTINGS
@given(blob=shards(), sizes=CHUNK_SIZES)
def test_members_equal_tarfile(blob: bytes, sizes: list[int]) -> None:
    assert as_tuples(parse(blob, sizes)) == oracle(blob)


@SETTINGS
@given(blob=shards(), sizes=CHUNK_SIZES, level=st.sampled_from([1, 6, 9]))
def test_gzip_members_equal_tarfile(blob: bytes, sizes: list[int], level: int) -> None:
    packed = gzip.compress(blob, compresslevel=level, mtime=0)
    expected = oracle(packed)
    assert as_tuples(parse(packed, sizes)) == expected
    assert as_tuples(parse(packed, sizes, compression="gzip")) == expected


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blob=shards(), cuts=st.lists(st.floats(0, 1), max_size=3), pad=st.booleans())
def test_multi_member_gzip(blob: bytes, cuts: list[float], pad: bool) -> None:
    """A gzip stream of several members (NUL padding between them allowed) is one tar."""
    points = sorted({0, len(blob), *(int(c * len(blob)) for c in cuts)})
    parts = [gzip.compress(blob[a:b], mtime=0) for a, b in itertools.pairwise(points)]
    packed = (b"\0" * 7 if pad else b"").join(parts)
    assert as_tuples(parse(packed, [4096, 3])) == oracle(blob)


def test_chunks_helper_covers_everything() -> None:
    blob = bytes(range(256)) * 10
    assert b"".join(chunks(blob, [1, 7, 300])) == blob
    assert len(list(chunks(blob, [1]))) == len(blob)

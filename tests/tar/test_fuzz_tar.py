"""Fuzzing the streaming tar parser and the sample grouper on hostile bytes.

Valid shards written by stdlib ``tarfile`` (ustar, GNU, PAX with globals, long names, links,
gzip-compressed) are mutated (bits flipped, bytes overwritten, inserted, cut, repeated) and fed
in random chunks; random bytes and random checksum-valid headers reach the deeper states. Only
an :class:`~aisloader.errors.AISLoaderError` may escape, within a per-example alarm (a hang
fails the example), and no file member is larger than ``max_member_size``. Headers that claim
10 GiB raise without allocating it (``tracemalloc`` peaks, not time, are asserted).
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import random
import tracemalloc
from collections.abc import Callable

import pytest
from _shared import blob, bounded
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from aisloader.core.tar.header import pax_records
from aisloader.core.tar.members import TarMember, TarStreamParser
from aisloader.core.tar.samples import group_samples
from aisloader.errors import AISLoaderError, SampleError, ShardFormatError

from .craft import END, extension, header, member, pax_payload, with_checksum
from .gen import Spec, build, chunks

FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TEN_GIB = 10 << 30


def _bases() -> list[bytes]:
    specs = [
        Spec("a/s1.jpg", size=700, seed=1),
        Spec("a/s1.cls", size=3, seed=2),
        Spec("L" * 120 + "/s2.seg.png", size=1100, seed=3, pax={"comment": "ü"}),
        Spec("d", "dir"),
        Spec("lnk", "symlink", link="a/s1.jpg"),
        Spec("__meta__", size=5, seed=4),
        Spec("s3.jpg", size=0),
    ]
    shards = [build(specs, fmt) for fmt in (0, 1, 2)]
    shards.append(build(specs, 2, {"comment": "global", "path": "g"}))
    return shards + [gzip.compress(s, mtime=0) for s in shards]


BASES = _bases()


@st.composite
def mutated(draw: st.DrawFn, bases: list[bytes]) -> bytes:
    """A base with 1 to 4 edits at uniform positions (hypothesis's own integers crowd at the
    start): a flipped bit, an overwritten byte, inserted or repeated bytes, a deleted range, or
    a cut."""
    blob = bytearray(draw(st.sampled_from(bases)))
    rng = random.Random(draw(st.integers(0, 2**64)))
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(blob) + 1)
        op = rng.choice(["flip", "flip", "set", "insert", "repeat", "delete", "cut"])
        if op == "flip" and pos < len(blob):
            blob[pos] ^= 1 << rng.randrange(8)
        elif op == "set" and pos < len(blob):
            blob[pos] = rng.randrange(256)
        elif op == "insert":
            blob[pos:pos] = rng.randbytes(rng.randint(1, 600))
        elif op == "repeat":
            blob[pos:pos] = blob[pos : pos + rng.randint(1, 1024)]
        elif op == "delete":
            del blob[pos : pos + rng.randint(1, 1024)]
        elif op == "cut":
            del blob[pos:]
    return bytes(blob)


@st.composite
def header_soup(draw: st.DrawFn) -> bytes:
    """Blocks that pass the checksum with random types, sizes (octal, base-256, huge) and
    payloads (PAX records, long names): what random bytes alone rarely reach."""
    out = b""
    for _ in range(draw(st.integers(1, 6))):
        flag = draw(st.sampled_from([b"0", b"\0", b"5", b"2", b"3", b"7", b"L", b"K", b"x", b"g"]))
        body = draw(st.one_of(st.binary(max_size=700), st.just(pax_payload({"size": "9" * 12}))))
        size = draw(st.sampled_from([len(body), 0, 1, 511, TEN_GIB, -1]))
        field = b"\x80" + size.to_bytes(11, "big") if size > 0o77777777777 else None
        field = b"\xff" * 12 if size < 0 else field
        block = header(draw(st.binary(max_size=99)), max(size, 0), flag, size_field=field)
        if draw(st.booleans()):  # and sometimes a byte off, after the checksum
            block = with_checksum(block[:200] + bytes([draw(st.integers(1, 255))]) + block[201:])
        out += block + body + bytes(-len(body) % 512)
    return out + draw(st.sampled_from([END, b"", bytes(512)]))


def _parse_and_group(blob: bytes, sizes: list[int], limit: int, end: bool) -> None:
    """Parse and group ``blob``; only typed errors may escape (the caller checks)."""
    parser = TarStreamParser(shard="ais://b/f.tar", max_member_size=limit, require_end_marker=end)
    members: list[TarMember] = []
    for chunk in chunks(blob, sizes):
        members += parser.feed(chunk)
    members += parser.close()
    assert all(len(m.data) <= limit for m in members)
    list(group_samples(members, url="u", on_duplicate="skip", missing="empty", expected=["jpg"]))
    list(group_samples(members, url="u", on_duplicate="skip", missing="skip", expected=["cls"]))
    list(group_samples(members, url="u"))  # may raise SampleError: a repeated extension


def _only_typed(run: Callable[[], None]) -> None:
    with bounded(10):
        try:
            run()
        except AISLoaderError as exc:
            event(type(exc).__name__)
        else:
            event("read whole")


SIZES = st.lists(st.integers(1, 3000), min_size=1, max_size=4)
LIMITS = st.sampled_from([1 << 20, 1 << 20, 1 << 20, 600, 1])


@FUZZ
@given(blob=mutated(BASES), sizes=SIZES, limit=LIMITS, end=st.booleans())
def test_mutated_shards_raise_only_typed_errors(
    blob: bytes, sizes: list[int], limit: int, end: bool
) -> None:
    _only_typed(lambda: _parse_and_group(blob, sizes, limit, end))


SHARD = b"".join(member(f"b/o/{i:05d}", blob(i)) for i in range(10)) + END
"""Repetitive objects, as get-batch answers and shards often hold: deflate back-references,
where a flipped distance bit can copy other bytes with no deflate error at all."""


@pytest.mark.parametrize("level", [1, 6])
def test_a_flipped_bit_in_gzip_gives_the_members_or_an_error(level: int) -> None:
    """Every bit of a compressed shard flipped in turn: the members come out unchanged, or a
    ShardFormatError is raised (the gzip trailer's CRC, checked past the tar end marker, is
    what catches a silent back-reference change)."""
    packed = gzip.compress(SHARD, compresslevel=level, mtime=0)
    expected, silent = _parse(packed), []
    with bounded(30):
        for pos, bit in itertools.product(range(len(packed)), range(8)):
            flipped = bytearray(packed)
            flipped[pos] ^= 1 << bit
            try:
                if _parse(bytes(flipped)) != expected:
                    silent.append((pos, bit))
            except ShardFormatError:
                pass
    assert not silent


@settings(FUZZ, max_examples=150)
@given(blob=st.one_of(st.binary(max_size=3000), header_soup()), sizes=SIZES, limit=LIMITS)
def test_random_blocks_raise_only_typed_errors(blob: bytes, sizes: list[int], limit: int) -> None:
    _only_typed(lambda: _parse_and_group(blob, sizes, limit, True))


NAMES = st.text(alphabet=st.sampled_from("ab./_\né\udcff"), max_size=8)
MEMBERS = st.lists(
    st.builds(
        TarMember,
        name=NAMES | st.sampled_from(["__meta__", "__x__/a.b", "a.JPG", "a.jpg", "a.b.c"]),
        size=st.just(1),
        data=st.binary(max_size=3),
        type=st.sampled_from(["file", "file", "file", "dir", "symlink", "other"]),
        offset=st.integers(0, 10),
    ),
    max_size=12,
)


@settings(FUZZ, max_examples=150)
@given(
    members=MEMBERS,
    dup=st.sampled_from(["error", "skip"]),
    missing=st.sampled_from(["error", "skip", "empty"]),
    expected=st.none() | st.lists(st.sampled_from(["jpg", "b", "b.c", "JPG"]), max_size=3),
)
def test_grouping_raises_only_sample_errors(
    members: list[TarMember], dup: str, missing: str, expected: list[str] | None
) -> None:
    lenient = dup == "skip" and missing != "error"
    try:
        samples = list(
            group_samples(members, url="u", on_duplicate=dup, missing=missing, expected=expected)  # type: ignore[arg-type]
        )
    except SampleError:
        assert not lenient
        return
    for sample in samples:
        assert sample["__key__"]
        assert sample["__url__"] == "u"
        assert all(ext in sample for ext in (e.lower() for e in expected or ()))


RECORDS = st.lists(st.tuples(st.integers(0, 30), st.binary(max_size=9), st.binary(max_size=9)))


@FUZZ
@given(
    data=st.binary(max_size=200) | RECORDS.map(lambda rs: b"".join(b"%d %s=%s\n" % r for r in rs))
)
def test_pax_records_raise_only_value_errors(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        pax_records(data)


def _peak(run: Callable[[], object]) -> int:
    """Peak traced memory while ``run`` runs (its exception, a ShardFormatError, expected)."""
    tracemalloc.start()
    try:
        with pytest.raises(ShardFormatError), bounded(20):
            run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _parse(blob: bytes) -> list[TarMember]:
    parser = TarStreamParser(shard="ais://b/huge.tar", max_member_size=1 << 30)
    return [*parser.feed(blob), *parser.close()]


BIG = b"\x80" + TEN_GIB.to_bytes(11, "big")
CLAIMS = {
    "regular file": header("f", size_field=BIG),
    "PAX size": extension(b"x", pax_payload({"size": str(TEN_GIB)}), "P") + header("f", 1),
    "GNU long name": header("././@LongLink", type_flag=b"L", size_field=BIG),
    "PAX header": header("P", type_flag=b"x", size_field=BIG),
    "unknown type to skip": header("q", type_flag=b"Z", size_field=BIG) + bytes(4096),
    "old GNU sparse": header("s", type_flag=b"S", size_field=BIG) + bytes(4096),
    "gzip bomb": gzip.compress(member("z", bytes(8 << 20)) + END)[:-8],
}


@pytest.mark.parametrize("case", sorted(CLAIMS))
def test_a_header_claiming_10_gib_raises_without_allocating(case: str) -> None:
    blob = CLAIMS[case]
    if case == "gzip bomb":  # 8 MiB of zeros, cut before the gzip trailer; limit 1 MiB
        parser = TarStreamParser(shard="ais://b/z.tgz", max_member_size=1 << 20)
        assert _peak(lambda: [*parser.feed(blob), *parser.close()]) < 4 << 20
        return
    assert _peak(lambda: _parse(blob)) < 4 << 20


def test_pax_records_are_framed_strictly_in_linear_time() -> None:
    """A key may not run past its record (the old loop read ``"2 2 2 … k=v"`` as records
    whose keys reached the far ``=``: quadratic time and memory, see CVE-2024-6232)."""
    with pytest.raises(ValueError, match="malformed"):
        pax_records(b"2 " * 1000 + b"k=v\n")
    payload = b"2 " * 400_000 + b"k=v\n"  # ~800 KB: minutes and gigabytes before the fix
    blob = extension(b"x", payload, "P") + member("a", b"1") + END
    assert _peak(lambda: _parse(blob)) < 16 << 20
    assert pax_records(pax_payload({"path": "a=b", "x": ""}) + bytes(300)) == {
        "path": "a=b",
        "x": "",
    }


def test_extensions_held_at_once_are_bounded() -> None:
    """Each PAX header copies the globals: 40 empty ones after 900 KB of globals would hold
    36 MB (and 4000 of them 3.6 GB); the parser stops once 1 MiB is held."""
    globals_ = extension(b"g", pax_payload({"comment": "c" * 900_000}), "G")
    blob = globals_ + extension(b"x", b"", "P") * 40 + member("a", b"1") + END
    assert _peak(lambda: _parse(blob)) < 8 << 20

"""The fast paths (plain ustar headers, whole members inside one chunk, split_key without the
regex) agree with the general code on the same input."""

from __future__ import annotations

import dataclasses
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aisloader.core.tar.header import TarMember, decode_header, file_member, header_sum, plain_file
from aisloader.core.tar.members import TarStreamParser
from aisloader.core.tar.samples import _KEY, split_key
from aisloader.errors import ShardFormatError

from .craft import END, header, member, with_checksum
from .gen import Spec, as_tuples, build, oracle, parse
from .test_tar_formats import CASES

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Offsets in the fields plain_file reads, and bytes that make them odd.
HOT = st.sampled_from([0, 5, 99, 124, 125, 134, 135, 148, 153, 154, 155, 156, 157, 345, 400])
ODD = st.sampled_from([0, 0x20, 0x2D, 0x2F, 0x30, 0x35, 0x37, 0x38, 0x5F, 0x6F, 0x80, 0xFF])


def _blocks() -> list[bytes]:
    blob = build([Spec("d/a.jpg", size=10), Spec("b.cls", size=0), Spec("c.json", size=600)], 0)
    return [blob[0:512], blob[1024:1536], blob[1536:2048]]


@SETTINGS
@given(
    base=st.sampled_from([*_blocks(), header("x/y.bin", 3), header("z", 0, b"\0")]),
    edits=st.lists(st.tuples(HOT, ODD), max_size=3),
    fix_checksum=st.booleans(),
)
def test_plain_file_agrees_with_decode_header(
    base: bytes, edits: list[tuple[int, int]], fix_checksum: bool
) -> None:
    buf = bytearray(base)
    for pos, value in edits:
        buf[pos] = value
    block = with_checksum(bytes(buf)) if fix_checksum else bytes(buf)
    fast = plain_file(b"\1" * 7 + block, 7)  # at an offset, as inside a chunk
    if fast is None:
        return
    hdr = decode_header(block)  # must not raise when the fast path accepted the header
    assert hdr.type in (b"0", b"\0", b"7")
    assert (hdr.name, hdr.size, hdr.linkname) == (*fast, "")


def test_plain_file_declines_what_it_does_not_handle() -> None:
    assert plain_file(header("a.bin", 5), 0) == ("a.bin", 5)
    assert plain_file(bytes(512), 0) is None  # end-of-archive block
    assert plain_file(header("old/dir/", 0, b"\0"), 0) is None
    assert plain_file(header("a", 0, b"5"), 0) is None
    assert plain_file(header("n", 0, prefix="p"), 0) is None
    assert plain_file(header("s", 0, b"0", link="t"), 0) is None
    assert plain_file(header("b", size_field=b"\x80" + (5).to_bytes(11, "big")), 0) is None
    assert plain_file(header("neg", size_field=b"-0000000001\0"), 0) is None
    bad = bytearray(header("a.bin", 5))
    bad[0] ^= 1  # checksum no longer matches
    assert plain_file(bytes(bad), 0) is None


def test_negative_octal_size_is_rejected() -> None:
    blob = header("neg", size_field=b"-0000000001\0") + END
    with pytest.raises(ShardFormatError, match="negative size"):
        parse(blob, [len(blob)])


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("chunk", [1 << 20, 1000])
def test_crafted_headers_in_big_chunks(name: str, chunk: int) -> None:
    blob = CASES[name] + member("after.txt", b"tail") + END
    assert as_tuples(parse(blob, [chunk])) == oracle(blob)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_every_split_point(fmt: int) -> None:
    """Two chunks, cut at every byte: headers, bodies and padding split every way."""
    sizes = [0, 1, 511, 512, 513, 700]
    specs = [Spec(f"k{i}.{ext}", size=n, seed=i) for i, n in enumerate(sizes) for ext in "ab"]
    blob = build(specs, fmt)
    expected = oracle(blob)
    last = expected[-1][4] + 512 + 1024 + 1024  # past the last member and the end marker
    for cut in range(min(last, len(blob)) + 1):
        parser = TarStreamParser(shard="s", max_member_size=1 << 20)
        got = parser.feed(blob[:cut]) + parser.feed(blob[cut:]) + parser.close()
        assert as_tuples(got) == expected, cut


def test_member_larger_than_the_limit_fails_on_the_fast_path_too() -> None:
    parser = TarStreamParser(shard="s", max_member_size=4)
    with pytest.raises(ShardFormatError, match="above max_member_size=4"):
        parser.feed(member("a.bin", b"12345") + END)


@settings(max_examples=500, deadline=None)
@given(name=st.text(alphabet=st.sampled_from("a_./\nB"), min_size=0, max_size=12))
def test_split_key_equals_its_regex(name: str) -> None:
    match = _KEY.fullmatch(name)
    assert split_key(name) == (("", "") if match is None else (match[1], match[2].lower()))


def test_file_member_equals_the_constructor() -> None:
    built, plain = (
        file_member("d/a.jpg", b"xyz", 1024),
        TarMember("d/a.jpg", 3, b"xyz", "file", 1024),
    )
    assert built == plain
    assert (built.is_file, built.linkname, hash(built), repr(built)) == (
        True,
        "",
        hash(plain),
        repr(plain),
    )
    assert [f.name for f in dataclasses.fields(TarMember)] == list(TarMember.__slots__)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "b"  # type: ignore[misc]


@settings(max_examples=200, deadline=None)
@given(
    block=st.one_of(
        st.binary(min_size=512, max_size=512),
        st.sampled_from([b"\xff" * 512, bytes(512), b"\x80" * 512]),
    ),
    pos=st.integers(0, 3),
)
def test_header_sum_is_the_plain_sum(block: bytes, pos: int) -> None:
    expected = 8 * 0x20 + sum(block[:148]) + sum(block[156:])
    assert header_sum(b"\x7f" * pos + block + b"\x7f", pos) == expected

"""Corrupt, truncated and hostile input: always a ShardFormatError naming shard and offset."""

from __future__ import annotations

import gzip
import random
import tarfile
import zlib

import pytest

from aisloader.core.tar.gzip import INFLATE_STEP, Inflater
from aisloader.core.tar.members import TarStreamParser
from aisloader.errors import ConfigError, ShardFormatError

from .craft import END, member
from .gen import Spec, build, parse

SHARD = "ais://b/s.tar"


def small_shard(fmt: int) -> bytes:
    """Files of 0, 5 and 600 bytes, a long name, a directory, a symlink, a PAX header."""
    specs = [
        Spec("a/b.txt", size=5, seed=1),
        Spec("L" * 150 + "/long.jpg", size=600, seed=2),
        Spec("empty.bin"),
        Spec("dir", "dir"),
        Spec("lnk", "symlink", link="a/b.txt"),
        Spec("p.cls", size=3, seed=3, pax={"comment": "x"}),
    ]
    return build(specs, fmt)


def end_marker(blob: bytes) -> int:
    """Offset of the first zero block (the end-of-archive marker) of a tarfile-written blob."""
    pos = 0
    while blob[pos : pos + 512] != bytes(512):
        pos += 512
    return pos


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_every_cut_point(fmt: int) -> None:
    """Each prefix of a shard errs (offset within what was read) or, past the marker, is whole."""
    blob = small_shard(fmt)
    full = parse(blob)
    done = end_marker(blob) + 512
    boundaries = {m.offset for m in full[1:]} | {end_marker(blob)}
    for cut in range(len(blob) + 1):
        parser = TarStreamParser(shard=SHARD, max_member_size=1 << 20)
        got = parser.feed(blob[: cut // 2]) + parser.feed(blob[cut // 2 : cut])
        if cut >= done:
            assert got + parser.close() == full
            continue
        with pytest.raises(ShardFormatError) as info:
            got += parser.close()
        assert got == full[: len(got)], cut
        err = info.value
        assert err.shard == SHARD
        assert (got[-1].offset if got else 0) <= err.offset <= cut, (cut, err)
        assert ("end-of-archive" in err.reason) == (cut in boundaries), (cut, err)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_cut_on_member_boundary_without_end_marker(fmt: int) -> None:
    blob = small_shard(fmt)
    full = parse(blob)
    for m, nxt in zip(full, [*full[1:], None], strict=True):
        cut = nxt.offset if nxt else end_marker(blob)
        with pytest.raises(ShardFormatError, match="end-of-archive") as info:
            parse(blob[:cut])
        assert info.value.offset == cut
        got = parse(blob[:cut], require_end_marker=False)
        assert got == full[: full.index(m) + 1]


def test_truncated_member_names_it() -> None:
    blob = member("big.bin", b"x" * 2000) + END
    with pytest.raises(ShardFormatError, match=r"'big.bin' truncated \(1000 of 2000") as info:
        parse(blob[: 512 + 1000])
    assert info.value.offset == 0
    assert "at byte 0" in str(info.value)


def test_end_marker_variants() -> None:
    one = member("a.txt", b"1")
    assert len(parse(one + bytes(512))) == 1  # a lone zero block ends the archive
    assert len(parse(one + bytes(512 * 20))) == 1  # record padding
    assert len(parse(one + END + b"garbage after the end")) == 1
    assert parse(END) == []
    for blob in (b"", b"\x1f"):
        with pytest.raises(ShardFormatError):
            parse(blob)


@pytest.mark.parametrize("where", [0, 1])
def test_bad_checksum(where: int) -> None:
    blob = bytearray(member("a.txt", b"1") + member("b.txt", b"2") + END)
    blob[where * 1024 + 3] ^= 0x01
    with pytest.raises(ShardFormatError, match="checksum") as info:
        parse(bytes(blob))
    assert info.value.offset == where * 1024


def test_garbage_is_corrupt_at_zero() -> None:
    noise = random.Random(7).randbytes(4096)
    with pytest.raises(ShardFormatError) as info:
        parse(noise)
    assert info.value.offset == 0


def test_oversized_member() -> None:
    blob = member("ok.bin", b"o" * 999) + member("dir/huge.bin", b"h" * 1000) + END
    assert len(parse(blob, max_member_size=1000)) == 2
    with pytest.raises(ShardFormatError, match=r"'dir/huge.bin' is 1000 bytes") as info:
        parse(blob, max_member_size=999)
    assert info.value.offset == 1536


def test_oversized_member_inside_gzip_bomb_fails_early() -> None:
    """100 MiB of zeros in one member: rejected after one inflate step, never buffered."""
    head = member("bomb.bin", b"")[:512]
    head = head[:124] + b"%011o\0" % (100 << 20) + head[136:]
    from .craft import with_checksum

    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    packed = comp.compress(with_checksum(head)) + comp.compress(bytes(100 << 20)) + comp.flush()
    parser = TarStreamParser(shard=SHARD, max_member_size=1 << 20)
    with pytest.raises(ShardFormatError, match=r"bomb\.bin"):
        parser.feed(packed)
    assert parser.position <= INFLATE_STEP


def test_inflater_bounds_each_piece() -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    packed = comp.compress(bytes(20 << 20)) + comp.flush()
    pieces = [len(p) for p in Inflater().inflate(packed)]
    assert sum(pieces) == 20 << 20
    assert max(pieces) <= INFLATE_STEP
    assert len(pieces) >= 20


@pytest.mark.parametrize(
    "blob",
    [
        b"\x1f\x8b" + random.Random(1).randbytes(2000),
        gzip.compress(member("a", b"1") + END)[:-30] + b"\xff" * 40,
    ],
    ids=["garbage", "corrupt-tail"],
)
def test_gzip_garbage(blob: bytes) -> None:
    with pytest.raises(ShardFormatError):
        parse(blob)


def test_gzip_truncated() -> None:
    tar = member("a.bin", random.Random(2).randbytes(5000)) + END
    packed = gzip.compress(tar)
    for cut in range(1, len(packed) - 20, 97):
        with pytest.raises(ShardFormatError):
            parse(packed[:cut], [50])


def test_gzip_truncated_on_a_block_boundary() -> None:
    """With the end marker not required, only the gzip layer can tell the stream was cut."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    packed = comp.compress(member("a", b"1")) + comp.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(ShardFormatError, match="gzip stream truncated"):
        parse(packed, require_end_marker=False)


def test_explicit_compression() -> None:
    tar = member("a", b"1") + END
    assert len(parse(tar, compression="none")) == 1
    assert len(parse(gzip.compress(tar), compression="gzip")) == 1
    with pytest.raises(ShardFormatError, match="gzip"):
        parse(tar, compression="gzip")
    with pytest.raises(ShardFormatError):
        parse(gzip.compress(tar), compression="none")
    with pytest.raises(ShardFormatError):
        parse(zlib.compress(tar))  # zlib (not gzip) framing is not sniffed


def test_error_is_sticky_and_close_is_final() -> None:
    parser = TarStreamParser(shard=SHARD, max_member_size=10)
    with pytest.raises(ShardFormatError) as first:
        parser.feed(b"\xee" * 512)
    with pytest.raises(ShardFormatError) as again:
        parser.feed(b"more")
    assert again.value is first.value
    done = TarStreamParser(shard=SHARD, max_member_size=10)
    assert done.feed(END) == []
    assert done.close() == []
    with pytest.raises(ValueError, match="after close"):
        done.feed(b"x")


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        TarStreamParser(shard=SHARD, max_member_size=0)
    with pytest.raises(ConfigError):
        TarStreamParser(shard=SHARD, max_member_size=1, compression="zstd")  # type: ignore[arg-type]


def test_error_survives_pickling() -> None:
    import pickle

    with pytest.raises(ShardFormatError) as info:
        parse(b"\xee" * 512)
    copy = pickle.loads(pickle.dumps(info.value))
    assert (copy.shard, copy.offset, copy.reason) == (SHARD, 0, info.value.reason)

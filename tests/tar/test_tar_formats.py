"""Header corner cases, checked against tarfile where tarfile reads them too."""

from __future__ import annotations

import pytest

from aisloader.core.tar.members import TarStreamParser
from aisloader.errors import ShardFormatError

from .craft import END, extension, header, member, padded, pax_payload
from .gen import as_tuples, oracle, parse

CASES = {
    "base256_size": header("a.bin", size_field=b"\x80" + (5).to_bytes(11, "big"))
    + padded(b"hello"),
    "v7_directory": member("old/dir/", type_flag=b"\0"),
    "areg_file": member("plain.txt", b"abc", type_flag=b"\0"),
    "contiguous_file": member("c.dat", b"xyz", type_flag=b"7"),
    "ustar_prefix": member("name.txt", b"p", prefix="some/long/prefix"),
    "unknown_type_with_data": member("v.vol", b"q" * 700, type_flag=b"V"),
    "dir_with_size_has_no_data": header("d/", 0, b"5"),
    "hardlink": member("h", type_flag=b"1", link="a.bin"),
    "fifo": member("f", type_flag=b"6"),
    "gnu_long_name": extension(b"L", b"x" * 300 + b"/y.jpg\0") + member("short", b"d"),
    "gnu_long_link": extension(b"K", b"t" * 200 + b"\0") + member("s", type_flag=b"2", link="z"),
    "gnu_long_dir_name": extension(b"L", b"dd" * 60 + b"//\0") + member("x/", type_flag=b"5"),
    "pax_size_override": extension(b"x", pax_payload({"size": "4"}), "PaxHeader/p")
    + header("p.bin", 0)
    + padded(b"four"),
    "pax_path_with_slash": extension(b"x", pax_payload({"path": "f.txt//"}), "P")
    + member("ignored", b"1"),
    "pax_then_longname": extension(b"x", pax_payload({"path": "from-pax"}), "P")
    + extension(b"L", b"from-gnu\0")
    + member("hdr", b"2"),
    "longname_then_pax": extension(b"L", b"from-gnu\0")
    + extension(b"x", pax_payload({"path": "from-pax"}), "P")
    + member("hdr", b"3"),
    "global_then_local": extension(b"g", pax_payload({"path": "glob", "comment": "c"}), "G")
    + member("one", b"1")
    + extension(b"x", pax_payload({"linkpath": "lnk"}), "P")
    + member("two", type_flag=b"2"),
    "solaris_x": extension(b"X", pax_payload({"path": "sol.txt"}), "P") + member("s", b"4"),
    "pax_hdrcharset_binary": extension(
        b"x", pax_payload({"hdrcharset": "BINARY"}) + b"11 path=\xff\xfe\n", "P"
    )
    + member("bin", b"5"),
    "non_utf8_ustar_name": member(b"caf\xe9.txt", b"8"),
    "empty_pax_header": extension(b"x", b"", "P") + member("e.txt", b"6"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_crafted_headers_match_tarfile(name: str) -> None:
    blob = CASES[name] + END
    assert as_tuples(parse(blob, [1, 100, 512])) == oracle(blob)


def test_base256_and_prefix_values() -> None:
    members = parse(CASES["base256_size"] + CASES["ustar_prefix"] + END)
    assert [(m.name, m.data) for m in members] == [
        ("a.bin", b"hello"),
        ("some/long/prefix/name.txt", b"p"),
    ]


def test_signed_char_checksum_is_accepted() -> None:
    """Old tars summed header bytes as signed chars; tarfile accepts both sums, so do we."""
    buf = bytearray(header("caf\u00e9.txt", 1))
    total = 256 + sum((b - 256 if b > 127 else b) for b in buf[:148] + buf[156:])
    buf[148:156] = b"%06o\0 " % total
    assert parse(bytes(buf) + padded(b"1") + END)[0].name == "café.txt"


def test_negative_base256_size_is_rejected() -> None:
    blob = header("neg", size_field=b"\xff" * 12) + END
    with pytest.raises(ShardFormatError, match="negative"):
        parse(blob)


def test_old_gnu_sparse_is_skipped_as_other() -> None:
    """An 'S' member with one extension block: reported as 'other', its blocks skipped."""
    extra = {482: b"\x01", 483: b"%011o\0" % 4096}
    sparse = header("sp.img", 512, b"S", extra=extra) + bytes(512) + padded(b"s" * 512)
    blob = sparse + member("after.txt", b"ok") + END
    members = parse(blob, [7])
    assert [(m.name, m.type, m.size) for m in members] == [
        ("sp.img", "other", 4096),
        ("after.txt", "file", 2),
    ]
    assert [(m[0], m[1]) for m in oracle(blob)] == [("sp.img", 4096), ("after.txt", 2)]


def test_pax_sparse_member_is_other() -> None:
    pax = pax_payload({"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "s"})
    blob = extension(b"x", pax, "P") + member("GNUSparseFile.0/s", b"1\n0\n3\nabc") + END
    (only,) = parse(blob)
    assert (only.name, only.type, only.data) == ("s", "other", b"")


def test_zero_length_pax_record_is_corrupt() -> None:
    blob = extension(b"x", b"0 path=x\n", "P") + member("a", b"1") + END
    with pytest.raises(ShardFormatError, match="PAX") as info:
        parse(blob)
    assert info.value.offset == 0


def test_bad_pax_size_is_corrupt() -> None:
    blob = extension(b"x", pax_payload({"size": "lots"}), "P") + member("a", b"1") + END
    with pytest.raises(ShardFormatError, match="size"):
        parse(blob)


def test_global_header_alone_is_an_empty_archive() -> None:
    """tarfile refuses this; a shard with only a global header is just empty to us."""
    assert parse(extension(b"g", pax_payload({"comment": "x"}), "G") + END) == []


def test_oversized_extended_header_is_corrupt() -> None:
    blob = header("././@LongLink", 2 << 20, b"L") + END
    with pytest.raises(ShardFormatError, match="extended header"):
        parse(blob)


def test_end_marker_right_after_extended_header_is_corrupt() -> None:
    blob = extension(b"L", b"name\0") + END
    with pytest.raises(ShardFormatError, match="extended header") as info:
        parse(blob)
    assert info.value.offset == 1024


def test_member_offsets_are_first_header_offsets() -> None:
    blob = CASES["gnu_long_name"] + CASES["pax_size_override"] + END
    parser = TarStreamParser(shard="s", max_member_size=1000)
    members = parser.feed(blob) + parser.close()
    assert [m.offset for m in members] == [0, 2048]
    assert parser.ended
    assert parser.position == len(blob) - 512


def test_truncated_global_header_names_its_offset() -> None:
    blob = member("a", b"1") + extension(b"g", pax_payload({"comment": "c" * 600}), "G")
    with pytest.raises(ShardFormatError, match="extended header") as info:
        parse(blob[: 1024 + 700])
    assert info.value.offset == 1024


def test_truncated_sparse_map_names_the_member() -> None:
    extra = {482: b"\x01", 483: b"%011o\0" % 4096}
    blob = member("a", b"1") + header("sp.img", 0, b"S", extra=extra) + bytes(100)
    with pytest.raises(ShardFormatError, match="truncated after the member") as info:
        parse(blob)
    assert info.value.offset == 1024

"""Incremental tar parser: members come out as the bytes of a shard arrive.

Push bytes with :meth:`TarStreamParser.feed` (or :meth:`~TarStreamParser.feed_iter`) and end
with :meth:`~TarStreamParser.close`. Names, sizes and types are what stdlib ``tarfile`` reports in
stream mode (``"r|*"``) on the same bytes: ustar/POSIX, GNU long names/links (``L``/``K``), PAX
extended (``x``) and global (``g``) headers, base-256 numbers. Unlike ``tarfile`` the parser is
strict: a bad checksum, a cut-off header or member, and (by default) a missing end-of-archive
marker raise :class:`~aisloader.errors.ShardFormatError` instead of ending the archive quietly;
gzip input is inflated past the end marker to its trailer, so a CRC mismatch (a flipped bit in
deflate data decodes to wrong bytes silently) raises at the latest at :meth:`close`.

Memory is bounded by the largest member plus one chunk: member bytes are kept as views of the
arriving chunks and joined once; a member lying whole in one chunk is one slice of it. Plain
ustar file headers take a fast path (:func:`~aisloader.core.tar.header.plain_file`), everything
else the general decoder. gzip input (``compression="gzip"`` or sniffed by ``"auto"``,
multi-member streams included) is inflated at most 1 MiB at a time. Sparse members (GNU ``S``
or PAX ``GNU.sparse.*``) are reported as ``"other"`` without data: they are never rebuilt.

The parser is one state machine over a byte buffer; it stays one class (about 270 lines)
because its states share that buffer and splitting it would scatter one loop over files.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from aisloader.core.tar.gzip import Inflater
from aisloader.core.tar.header import (
    BLOCK,
    Compression,
    Extensions,
    Header,
    MemberType,
    TarMember,
    decode_header,
    file_member,
    plain_file,
    rounded,
)
from aisloader.errors import ConfigError, ShardFormatError

__all__ = ["Compression", "MemberType", "TarMember", "TarStreamParser"]

_ZERO_BLOCK = bytes(BLOCK)
_EXT_CAP = 1 << 20  # most bytes of GNU long names / PAX headers held at once
_GZIP_MAGIC = b"\x1f\x8b"
_REGULAR = (b"0", b"\0", b"7")
_NO_DATA = (b"1", b"2", b"3", b"4", b"5", b"6")  # tarfile reads no data blocks after these
_EXTENSIONS = (b"L", b"K", b"x", b"X", b"g")
_HEADER, _BODY, _SKIP, _EXT, _SPARSE, _END = range(6)


class TarStreamParser:
    """Push parser for one tar (or tar.gz) stream. Not thread-safe; one per shard.

    Args:
        shard: what the stream is (e.g. ``"ais://bucket/shard.tar"``), named in errors.
        compression: ``"auto"`` (sniff the gzip magic), ``"none"`` or ``"gzip"``.
        max_member_size: largest regular file accepted, in bytes.
        require_end_marker: a stream must end with the end-of-archive zero block(s); without
            it, a body cut at a block boundary would look like a complete shard.

    Raises:
        ConfigError: on a bad ``compression`` or ``max_member_size``.
    """

    def __init__(
        self,
        *,
        shard: str,
        compression: Compression = "auto",
        max_member_size: int,
        require_end_marker: bool = True,
    ) -> None:
        if compression not in ("auto", "none", "gzip"):
            raise ConfigError(f"compression must be 'auto', 'none' or 'gzip', not {compression!r}")
        if max_member_size < 1:
            raise ConfigError(f"max_member_size must be >= 1, got {max_member_size}")
        self.shard = shard
        self._max = max_member_size
        self._require_end = require_end_marker
        self._inflater: Inflater | None = Inflater() if compression == "gzip" else None
        self._sniff: bytearray | None = bytearray() if compression == "auto" else None
        self._state, self._want, self._have, self._pos = _HEADER, BLOCK, 0, 0
        self._hdr = bytearray()
        self._parts: list[memoryview] = []
        self._chain = -1  # offset of the current member's first header, -1 between members
        self._last = 0  # offset of the last member's first header (for error reports)
        self._header_start = 0
        self._ext_kind = b""
        self._ext = Extensions()
        self._body: tuple[str, str] = ("", "")
        self._sparse_skip = 0
        self._error: ShardFormatError | None = None
        self._closed = False

    @property
    def position(self) -> int:
        """Bytes of the uncompressed stream consumed so far."""
        return self._pos

    @property
    def ended(self) -> bool:
        """True once the end-of-archive marker was seen (later bytes are ignored; gzip's are
        still inflated, to check its trailer)."""
        return self._state == _END

    def feed(self, chunk: bytes) -> list[TarMember]:
        """Parse ``chunk`` and return the members it completed.

        Raises:
            ShardFormatError: corrupt header, oversized member, bad gzip data.
        """
        return list(self.feed_iter(chunk))

    def feed_iter(self, chunk: bytes) -> Iterator[TarMember]:
        """Like :meth:`feed`, but lazily: at most one inflate step is held at a time.

        Consume it fully before the next call.

        Raises:
            ShardFormatError: corrupt header, oversized member, bad gzip data.
        """
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ValueError("feed() after close()")
        if not chunk or (self._state == _END and self._inflater is None):
            return
        data = bytes(chunk) if not isinstance(chunk, bytes) else chunk
        if self._sniff is not None:
            self._sniff += data
            if len(self._sniff) < len(_GZIP_MAGIC) and _GZIP_MAGIC.startswith(self._sniff):
                return
            data, self._sniff = bytes(self._sniff), None
            if data.startswith(_GZIP_MAGIC):
                self._inflater = Inflater()
        try:
            if self._inflater is None:
                yield from self._consume(data)
                return
            for piece in self._inflater.inflate(data):  # past the end marker too: to the CRC
                yield from self._consume(piece)
        except ValueError as exc:  # zlib.error is not a ValueError; see Inflater
            raise self._fail(self._pos, str(exc)) from exc

    def close(self) -> list[TarMember]:
        """End of stream: return the last members, check the archive is complete.

        Raises:
            ShardFormatError: the stream is empty, truncated, or lacks the end marker.
        """
        if self._error is not None:
            raise self._error
        out: list[TarMember] = []
        if self._sniff:  # fewer bytes than the gzip magic: treat them as plain tar
            data, self._sniff = bytes(self._sniff), None
            out = list(self._consume(data))
        self._closed = True
        if self._state == _END:
            if self._inflater is not None and not self._inflater.complete:
                raise self._fail(self._pos, "gzip stream truncated after the end marker")
            return out
        if self._pos == 0:
            raise self._fail(0, "empty stream, not a tar archive")
        self._check_complete()
        if self._inflater is not None and not self._inflater.complete:
            raise self._fail(self._pos, "gzip stream truncated")
        return out

    def _check_complete(self) -> None:
        where = f"stream ended at byte {self._pos}"
        if self._state == _HEADER and self._have:
            raise self._fail(self._pos - self._have, f"truncated inside a header ({where})")
        if self._state == _BODY:
            got = f"{self._have} of {self._want} bytes"
            raise self._fail(self._last, f"member {self._body[0]!r} truncated ({got}; {where})")
        if self._state == _EXT or self._ext.pending:
            start = self._chain if self._chain >= 0 else self._header_start  # a lone 'g' header
            raise self._fail(start, f"truncated inside an extended header ({where})")
        if self._state in (_SKIP, _SPARSE):
            raise self._fail(self._last, f"truncated after the member at {self._last} ({where})")
        if self._require_end:
            reason = f"no end-of-archive marker ({where}, on a block boundary: truncated?)"
            raise self._fail(self._pos, reason)

    def _fail(self, offset: int, reason: str) -> ShardFormatError:
        self._error = ShardFormatError(self.shard, offset, reason)
        return self._error

    def _consume(self, data: bytes) -> Iterator[TarMember]:
        base, pos, end = self._pos, 0, len(data)
        view = memoryview(data)
        while pos < end and self._state != _END:
            if self._state == _HEADER and not self._have:
                pos = yield from self._plain_run(data, pos, base)
                if pos == end or self._state != _HEADER:
                    continue
            n = min(end - pos, self._want - self._have)
            state = self._state
            if state in (_HEADER, _SPARSE):
                self._hdr += view[pos : pos + n]
            elif state != _SKIP:
                self._parts.append(view[pos : pos + n])
            pos += n
            self._have += n
            self._pos = base + pos
            if self._have == self._want:
                member = self._advance()
                if member is not None:
                    yield member

    def _plain_run(self, data: bytes, pos: int, base: int) -> Generator[TarMember, None, int]:
        """The fast path: plain file headers (see ``plain_file``) from ``data[pos]`` on.

        Returns where the general parser takes over: at a header the fast path declines, or
        past a header whose body or padding goes on in the next chunk (in state BODY/SKIP).
        """
        end, limit, ext = len(data), self._max, self._ext
        while end - pos >= BLOCK and not (ext.pending or ext.globals):
            hit = plain_file(data, pos)
            if hit is None or hit[1] > limit:
                break
            name, size = hit
            start, body = base + pos, pos + BLOCK
            stop = body + size
            self._last = start
            if stop > end:  # the body goes on in later chunks
                self._body = (name, "")
                self._state, self._want, self._have = _BODY, size, 0
                self._pos = base + body
                return body
            pos = stop + -size % BLOCK  # past the padding
            if pos > end:  # the padding goes on in the next chunk
                self._state, self._want, self._have, pos = _SKIP, pos - stop, 0, stop
            self._pos = base + pos
            yield file_member(name, data[body:stop], start)
        return pos

    def _expect(self, state: int, want: int) -> None:
        self._hdr.clear()
        self._state, self._want, self._have = (state, want, 0) if want else (_HEADER, BLOCK, 0)

    def _take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data

    def _advance(self) -> TarMember | None:
        state = self._state
        if state == _HEADER:
            return self._on_header(bytes(self._hdr))
        if state == _BODY:
            name, link = self._body
            data = self._take()
            self._expect(_SKIP, rounded(len(data)) - len(data))
            return TarMember(name, len(data), data, "file", self._last, link)
        if state == _EXT:
            self._on_extension(self._take())
        elif state == _SPARSE and self._hdr[504]:  # another old-GNU sparse map block follows
            self._expect(_SPARSE, BLOCK)
        elif state == _SPARSE:
            self._expect(_SKIP, self._sparse_skip)
        else:
            self._expect(_HEADER, BLOCK)
        return None

    def _on_header(self, buf: bytes) -> TarMember | None:
        start = self._header_start = self._pos - BLOCK
        if buf == _ZERO_BLOCK:
            if self._ext.pending:
                raise self._fail(start, "end-of-archive marker right after an extended header")
            self._state = _END
            return None
        try:
            hdr = decode_header(buf)
        except ValueError as exc:
            raise self._fail(start, f"corrupt header: {exc}") from None
        if self._chain < 0 and hdr.type != b"g":
            self._chain = start
        if hdr.type in _EXTENSIONS:
            if not 0 <= hdr.size <= _EXT_CAP - self._ext.held:
                held = f"{self._ext.held} bytes of extensions held, cap {_EXT_CAP}"
                raise self._fail(start, f"extended header of {hdr.size} bytes ({held})")
            self._ext_kind = hdr.type
            self._expect(_EXT, rounded(hdr.size))
            if not hdr.size:
                self._on_extension(b"")
            return None
        return self._begin_member(hdr)

    def _on_extension(self, data: bytes) -> None:
        self._expect(_HEADER, BLOCK)
        try:
            self._ext.add(self._ext_kind, data)
        except ValueError as exc:
            raise self._fail(self._pos - len(data) - BLOCK, f"bad PAX header: {exc}") from None

    def _begin_member(self, hdr: Header) -> TarMember | None:
        try:
            name, link, size, sparse = self._ext.resolve(hdr)
        except ValueError as exc:
            raise self._fail(self._chain, f"bad PAX header: {exc}") from None
        offset, self._last, self._chain = self._chain, self._chain, -1
        if size < 0:
            raise self._fail(offset, f"member {name!r} has a negative size")
        if sparse or hdr.type not in _REGULAR:
            skip = 0 if hdr.type in _NO_DATA else rounded(size)
            self._sparse_skip = skip
            if hdr.sparse_extended:
                self._expect(_SPARSE, BLOCK)
            else:
                self._expect(_SKIP, skip)
            kind = "other" if sparse else _kind(hdr.type)
            reported = hdr.real_size if hdr.type == b"S" else size
            return TarMember(name, reported, b"", kind, offset, link)
        if size > self._max:
            limit = f"max_member_size={self._max}"
            raise self._fail(offset, f"member {name!r} is {size} bytes, above {limit}")
        if size == 0:
            self._expect(_HEADER, BLOCK)
            return TarMember(name, 0, b"", "file", offset, link)
        self._body = (name, link)
        self._expect(_BODY, size)
        return None


def _kind(type_flag: bytes) -> MemberType:
    if type_flag == b"5":
        return "dir"
    return "symlink" if type_flag == b"2" else "other"

"""List objects (protocol doc section 4): one page from the store's sorted index.

`build_page` blocks (it may open archives and checksum files found on disk): run it in a thread.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from aisloader.server.archive import ArchiveIndex, archive_kind
from aisloader.server.errors import EmuError, clip
from aisloader.server.jsonbody import MAX_INT_DIGITS, load_json
from aisloader.server.names import BucketId
from aisloader.server.store import Store

__all__ = ["LsoMsg", "Page", "build_page", "encode_page", "parse_lso"]

ARCH_DIR = 1 << 3
DEFAULT_PAGE = 10_000
INT64_MAX, UINT64_MAX = (1 << 63) - 1, (1 << 64) - 1
F_CACHED, F_IN_ARCH, F_ARCHIVE = 64, 128, 512
_JSON_KEYS = {"n": "name", "s": "size", "cs": "checksum", "a": "atime", "v": "version"}
_JSON_KEYS |= {"t": "location", "c": "copies", "f": "flags"}


@dataclass(frozen=True)
class LsoMsg:
    """The fields of ``apc.LsoMsg`` the emulator honours."""

    prefix: str = ""
    pagesize: int = 0
    uuid: str = ""
    props: str = ""
    token: str = ""
    flags: int = 0


@dataclass
class Page:
    """One page of results."""

    uuid: str
    token: str
    entries: list[dict[str, Any]]


def parse_lso(raw: bytes) -> LsoMsg:
    """Parse the ActMsg body of a list request (an empty body means defaults).

    Field types are checked as Go's decoder checks ``apc.LsoMsg``: ``pagesize`` is an int64
    (not a float, bool or string), ``flags`` a uint64 sent as a string; a negative page size
    is refused rather than read as "default".

    Raises:
        EmuError: 400 for malformed JSON, a wrong action or bad field types or values.
    """
    if not raw.strip():
        return LsoMsg()
    msg = load_json(raw, "list-objects request")
    if not isinstance(msg, dict):
        raise _bad("expected a JSON object (an action message)")
    if (action := msg.get("action", "list")) != "list":
        raise EmuError(400, f'invalid action "{clip(str(action))}" (expected "list")')
    v = msg.get("value") or {}
    if not isinstance(v, dict):
        raise _bad('"value" must be a JSON object (the list-objects message)')
    return LsoMsg(
        prefix=_text(v, "prefix"),
        pagesize=_number(v, "pagesize", INT64_MAX),
        uuid=_text(v, "uuid"),
        props=_text(v, "props"),
        token=_text(v, "continuation_token"),
        flags=_number(v, "flags", UINT64_MAX, digits_ok=True),
    )


def _bad(problem: str) -> EmuError:
    return EmuError(400, f"invalid list-objects request: {problem}")


def _text(v: dict[str, Any], key: str) -> str:
    value = v.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(f'"{key}" must be a string, got {type(value).__name__}')
    return value


def _number(v: dict[str, Any], key: str, top: int, digits_ok: bool = False) -> int:
    """An integer field in ``0..top``; with ``digits_ok`` also its decimal string (``"8"``)."""
    value = v.get(key)
    if value is None:
        return 0
    if digits_ok and isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value) if len(value) <= MAX_INT_DIGITS else top + 1
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f'"{key}" must be an integer, got {type(value).__name__} {clip(str(value))}')
    if not 0 <= value <= top:
        raise _bad(f'"{key}" must be in 0..{top}, got {value}')
    return value


def _rfc822(ns: int) -> str:
    return time.strftime("%d %b %y %H:%M UTC", time.gmtime(ns / 1e9))


class _Builder:
    def __init__(
        self, store: Store, archives: ArchiveIndex, b: BucketId, msg: LsoMsg, owner: OwnerFn
    ) -> None:
        self.store, self.archives, self.b, self.msg, self.owner = store, archives, b, msg, owner
        props = set(msg.props.replace(" ", "").split(",")) - {""}
        self.props = props or {"name", "size", "cached"}
        self.arch = bool(msg.flags & ARCH_DIR)
        self.limit = msg.pagesize if msg.pagesize > 0 else DEFAULT_PAGE
        self.out: list[dict[str, Any]] = []

    def entry(self, name: str, size: int, mtime: int) -> dict[str, Any]:
        e: dict[str, Any] = {"n": name}
        p = self.props
        if "size" in p and size:
            e["s"] = size
        if p & {"checksum", "version"}:
            meta = self.store.object_meta(self.b, name)
            if "checksum" in p and meta:
                e["cs"] = meta.cksum
            if "version" in p:
                e["v"] = str(meta.version if meta else 1)
        if "atime" in p:
            e["a"] = _rfc822(mtime)
        if "location" in p:
            e["t"] = f"t[{self.owner(name)}]:/emu"
        if "copies" in p:
            e["c"] = 1
        e["f"] = F_CACHED
        return e

    def members(self, name: str, after: str, parent: dict[str, Any] | None = None) -> bool:
        """Emit the members of archive ``name`` after member ``after``; False when full.

        ``parent`` (the archive's own entry) gets the is-archive flag if the archive reads.
        """
        path = self.store.object_path(self.b, name)
        try:
            members = self.archives.members(path, archive_kind(name))
        except (EmuError, OSError):
            return True  # unreadable archive: listed as a plain object
        if parent is not None:
            parent["f"] |= F_ARCHIVE
        for m in members.values():
            if after and m.name <= after:
                continue
            if len(self.out) >= self.limit:
                return False
            self.out.append({"n": f"{name}/{m.name}", "s": m.size, "f": F_CACHED | F_IN_ARCH})
        return True

    def resume_archive(self, token: str) -> tuple[str, str] | None:
        """If ``token`` is an archive object or one of its members: ``(archive, member)``."""
        cut = [i for i, ch in enumerate(token) if ch == "/"] + [len(token)]
        for i in cut:
            cand = token[:i]
            ok = archive_kind(cand) and cand.startswith(self.msg.prefix)
            if ok and self.store.stat_entry(self.b, cand) is not None:
                return cand, token[i + 1 :]
        return None

    def build(self) -> Page:
        after = self.msg.token
        full = False
        if self.arch and after and (resume := self.resume_archive(after)):
            full = not self.members(*resume)
            after = resume[0]
        while not full and len(self.out) < self.limit:
            objs = self.store.page(self.b, self.msg.prefix, after, self.limit - len(self.out))
            if not objs:
                break
            for name, size, mtime in objs:
                e = self.entry(name, size, mtime)
                self.out.append(e)
                after = name
                if self.arch and archive_kind(name) and not self.members(name, "", e):
                    full = True
                    break
        token = self.out[-1]["n"] if len(self.out) >= self.limit else ""
        return Page(self.msg.uuid or uuid.uuid4().hex, token, self.out)


OwnerFn = Callable[[str], str]


def build_page(
    store: Store, archives: ArchiveIndex, b: BucketId, msg: LsoMsg, owner: OwnerFn
) -> Page:
    """Build one page for ``msg`` (blocking).

    Args:
        store: the object store.
        archives: archive member index cache (ARCH_DIR listings).
        b: the bucket.
        msg: the request.
        owner: object name -> owning target ID (for the ``location`` prop).

    Raises:
        EmuError: 404 when the bucket does not exist.
    """
    store.ensure_index(b)
    return _Builder(store, archives, b, msg, owner).build()


def encode_page(page: Page, msgpack: bool) -> tuple[bytes, str]:
    """Serialize ``page`` as msgpack (PascalCase keys, short entry keys) or JSON."""
    if msgpack:
        body = {
            "UUID": page.uuid,
            "ContinuationToken": page.token,
            "Entries": page.entries or None,
            "Flags": 0,
        }
        return msgspec.msgpack.encode(body), "application/msgpack"
    entries = []
    for e in page.entries:
        j = {_JSON_KEYS[k]: v for k, v in e.items()}
        if "size" in j:
            j["size"] = str(j["size"])
        entries.append(j)
    body = {"uuid": page.uuid, "continuation_token": page.token, "entries": entries, "flags": 0}
    return json.dumps(body).encode(), "application/json"

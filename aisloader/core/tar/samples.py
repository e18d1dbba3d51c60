"""WebDataset sample grouping, with explicit policies for broken samples.

The rules are webdataset's (``tariterators.base_plus_ext``, ``tar_file_iterator``,
``group_by_keys``), so the same shard gives the same samples:

* only regular files count; ``__*__`` meta entries (``__meta__``, ``__x__/...``) are skipped;
* a name splits at the first dot of its basename: the key keeps the directory
  (``"d/a.seg.png"`` → ``("d/a", "seg.png")``), the extension is lower-cased; a name with no
  such dot has no key and is skipped;
* a sample is a run of consecutive members with the same key; a grouper serves one shard, so
  samples never span shards.

Where webdataset raises ``ValueError`` on a repeated extension, the grouper raises
:class:`~aisloader.errors.SampleError` (``on_duplicate="error"``) or drops the whole sample
(``"skip"``). ``expected`` extensions are checked per sample: a sample missing one raises
(``missing="error"``), is dropped (``"skip"``) or gets ``b""`` for it (``"empty"``). Every skip
is counted in :attr:`SampleGrouper.stats`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterable, Collection, Iterable, Iterator
from typing import Any, Literal

from aisloader.core.tar.members import TarMember
from aisloader.errors import ConfigError, SampleError

__all__ = [
    "Missing",
    "OnDuplicate",
    "Sample",
    "SampleGrouper",
    "agroup_samples",
    "group_samples",
    "is_meta",
    "split_key",
    "to_plugin_form",
]

Sample = dict[str, Any]
OnDuplicate = Literal["error", "skip"]
Missing = Literal["error", "skip", "empty"]

# The key: an optional directory part (no newline before its last slash, as in webdataset's
# regex), then at least one non-dot character; the extension: the rest, with no slash.
_KEY = re.compile(r"((?:[^\n]*/)?[^.]+)\.([^/]*)")
# A first path component "__...__" followed by "/" or by the end (an optional final newline).
_META = re.compile(r"__[^/]*__(?:/|\n?\Z)")
_META_KEYS = ("__key__", "__url__")
_STATS = (
    *("members", "samples", "skipped_nonfile", "skipped_meta", "skipped_nokey"),
    *("duplicate", "missing", "padded"),
)


def split_key(name: str) -> tuple[str, str]:
    """Split a member name into (key, lower-cased extension) like webdataset.

    Returns ``("", "")`` for a name webdataset cannot key and skips (no dot in the basename,
    for instance); a real key is never empty.
    """
    key, dot, ext = name.partition(".")  # the common case, the regex's first try, no regex
    if key and dot and "/" not in name and "\n" not in name:
        return key, ext.lower()
    if "\n" not in name:
        start = name.rfind("/") + 1
        at = name.find(".", start)
        if at > start:
            return name[:at], name[at + 1 :].lower()
    match = _KEY.fullmatch(name)
    return ("", "") if match is None else (match[1], match[2].lower())


def is_meta(name: str) -> bool:
    """True for the ``__*__`` entries webdataset skips."""
    if not name.startswith("__"):
        return False
    if "/" not in name and name.endswith("__"):
        return True
    return _META.match(name) is not None


def to_plugin_form(sample: Sample) -> tuple[str, dict[str, bytes]]:
    """``(basename, {ext: bytes})`` as ``aistore.pytorch.AISShardReader`` yields.

    The basename is the key's last path component; extensions stay webdataset's (``seg.png``
    stays whole, where the plugin would keep only ``png``).
    """
    key: str = sample["__key__"]
    parts = {ext: value for ext, value in sample.items() if ext not in _META_KEYS}
    return key.rsplit("/", 1)[-1], parts


class SampleGrouper:
    """Groups the members of ONE shard into samples (see module docs).

    Args:
        url: the shard, stored as ``__url__`` and named in errors.
        on_duplicate: ``"error"`` or ``"skip"`` (drop the sample) on a repeated extension.
        missing: ``"error"``, ``"skip"`` or ``"empty"`` for a sample lacking an ``expected``
            extension.
        expected: extensions every sample must have (case-insensitive), or ``None``.

    Attributes:
        stats: counters: ``members`` seen, ``samples`` produced, ``skipped_nonfile``,
            ``skipped_meta``, ``skipped_nokey`` members, ``duplicate`` and ``missing`` samples
            dropped, ``padded`` extensions filled with ``b""``.

    Raises:
        ConfigError: on an unknown policy.
    """

    def __init__(
        self,
        *,
        url: str,
        on_duplicate: OnDuplicate = "error",
        missing: Missing = "error",
        expected: Collection[str] | None = None,
    ) -> None:
        if on_duplicate not in ("error", "skip"):
            raise ConfigError(f"on_duplicate must be 'error' or 'skip', not {on_duplicate!r}")
        if missing not in ("error", "skip", "empty"):
            raise ConfigError(f"missing must be 'error', 'skip' or 'empty', not {missing!r}")
        if isinstance(expected, str):
            raise ConfigError("expected must be a collection of extensions, not one string")
        self.url = url
        self._on_duplicate, self._missing = on_duplicate, missing
        self._expected = tuple(dict.fromkeys(ext.lower() for ext in expected or ()))
        self._current: Sample | None = None
        self._bad = False
        self.stats: dict[str, int] = dict.fromkeys(_STATS, 0)

    def push(self, member: TarMember) -> Sample | None:
        """Add the next member; return the sample it completed, if any.

        Raises:
            SampleError: repeated extension under ``on_duplicate="error"``, or a completed
                sample missing an expected extension under ``missing="error"``.
        """
        stats = self.stats
        stats["members"] += 1
        name = member.name
        key, ext = split_key(name)
        if not key or member.type != "file" or (name.startswith("__") and is_meta(name)):
            stats[_skip_reason(member, key)] += 1
            return None
        current, done = self._current, None
        if current is None or current["__key__"] != key:
            done = self.finish()
            current = self._current = {"__key__": key, "__url__": self.url}
            self._bad = False
        if ext in current:
            if self._on_duplicate == "error":
                raise SampleError(
                    f"{self.url}: sample {key!r} has extension {ext!r} twice "
                    f"(member {name!r}); use on_duplicate='skip' to drop such samples"
                )
            self._bad = True
        elif not self._bad:
            current[ext] = member.data
        return done

    def finish(self) -> Sample | None:
        """End of shard: return the last sample, if any (also used between samples).

        Raises:
            SampleError: the sample misses an expected extension under ``missing="error"``.
        """
        sample, self._current = self._current, None
        if sample is None:
            return None
        if self._bad:
            self.stats["duplicate"] += 1
            return None
        lacking = [ext for ext in self._expected if ext not in sample] if self._expected else []
        if lacking and self._missing == "error":
            raise SampleError(
                f"{self.url}: sample {sample['__key__']!r} lacks {lacking} "
                f"(has {[k for k in sample if k not in _META_KEYS]}); "
                "use missing='skip' or 'empty'"
            )
        if lacking and self._missing == "skip":
            self.stats["missing"] += 1
            return None
        for ext in lacking:
            sample[ext] = b""
        self.stats["padded"] += len(lacking)
        self.stats["samples"] += 1
        return sample

    def group(self, members: Iterable[TarMember]) -> Iterator[Sample]:
        """Samples of a shard's members.

        Raises:
            SampleError: per the policies.
        """
        for member in members:
            sample = self.push(member)
            if sample is not None:
                yield sample
        last = self.finish()
        if last is not None:
            yield last

    async def agroup(self, members: AsyncIterable[TarMember]) -> AsyncGenerator[Sample, None]:
        """Samples of a shard's async members; closes ``members`` when done.

        Raises:
            SampleError: per the policies.
        """
        try:
            async for member in members:
                sample = self.push(member)
                if sample is not None:
                    yield sample
            last = self.finish()
            if last is not None:
                yield last
        finally:
            aclose = getattr(members, "aclose", None)
            if aclose is not None:
                await aclose()


def _skip_reason(member: TarMember, key: str) -> str:
    if member.type != "file":
        return "skipped_nonfile"
    if member.name.startswith("__") and is_meta(member.name):
        return "skipped_meta"
    return "" if key else "skipped_nokey"


def group_samples(
    members: Iterable[TarMember],
    *,
    url: str,
    on_duplicate: OnDuplicate = "error",
    missing: Missing = "error",
    expected: Collection[str] | None = None,
) -> Iterator[Sample]:
    """Samples of one shard (see :class:`SampleGrouper`; build one to read its stats).

    Raises:
        SampleError: per the policies.
        ConfigError: on an unknown policy.
    """
    grouper = SampleGrouper(url=url, on_duplicate=on_duplicate, missing=missing, expected=expected)
    return grouper.group(members)


def agroup_samples(
    members: AsyncIterable[TarMember],
    *,
    url: str,
    on_duplicate: OnDuplicate = "error",
    missing: Missing = "error",
    expected: Collection[str] | None = None,
) -> AsyncGenerator[Sample, None]:
    """Async :func:`group_samples`; the result is an async generator (has ``aclose``).

    Raises:
        SampleError: per the policies.
        ConfigError: on an unknown policy.
    """
    grouper = SampleGrouper(url=url, on_duplicate=on_duplicate, missing=missing, expected=expected)
    return grouper.agroup(members)

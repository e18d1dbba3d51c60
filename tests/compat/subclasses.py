"""User subclasses written against the plugin's contract, once per implementation.

They live at module level so that DataLoader workers started with ``spawn`` can unpickle them
(``compat.subclasses.<Name>``). Each behaviour is a mixin written once; the concrete classes
only pick the base class of one implementation. :func:`subclass` finds the one for an
implementation.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import aistore.pytorch as plugin

import aisloader.torch as ours


class UpperItem:
    """Overrides ``__getitem__`` of ``AISMapDataset`` (the official test's pattern): the
    sample is ``(name, DATA, pid)``, and ``calls`` records the indices asked in this process."""

    calls: list[int]

    def __getitem__(self, index: int) -> tuple[str, bytes, int]:
        self.__dict__.setdefault("calls", []).append(index)
        name, data = super().__getitem__(index)  # type: ignore[misc]
        return name, data.upper(), os.getpid()


class ObjListItem:
    """A map dataset on ``AISBaseMapDataset`` written the plugin's way: ``__len__`` and
    ``__getitem__`` over ``self._obj_list`` (``.name``, ``.props.size``, reader)."""

    _obj_list: Any

    def __len__(self) -> int:
        return len(self._obj_list)

    def __getitem__(self, index: int) -> tuple[str, int, int, bytes]:
        obj = self._obj_list[index]
        data = obj.get_reader().read_all()
        return obj.name, obj.props.size, obj.props_cached.size, data


class DigestIter:
    """Overrides ``__iter__`` of ``AISBaseIterDataset`` with the plugin's hooks: samples are
    ``(name, md5 hex, pid)`` of this worker's share."""

    def __iter__(self) -> Iterator[tuple[str, str, int]]:
        self._reset_iterator()  # type: ignore[attr-defined]
        objects, _worker_name = self._get_worker_iter_info()  # type: ignore[attr-defined]
        for obj in objects:
            data = obj.get_reader().read_all()
            yield obj.name, hashlib.md5(data, usedforsecurity=False).hexdigest(), os.getpid()


class OddOnly:
    """Overrides ``_create_objects_iter`` (the plugin 2.0 listing hook): objects whose name
    ends in an odd digit only."""

    def _create_objects_iter(self, sources: Any = None) -> Iterator[Any]:
        for obj in super()._create_objects_iter(sources):  # type: ignore[misc]
            if int(obj.name[-1]) % 2:
                yield obj


class PluginUpperItem(UpperItem, plugin.AISMapDataset):  # type: ignore[misc]
    pass


class OursUpperItem(UpperItem, ours.AISMapDataset):
    pass


class PluginObjListItem(ObjListItem, plugin.AISBaseMapDataset):  # type: ignore[misc]
    pass


class OursObjListItem(ObjListItem, ours.AISBaseMapDataset):
    pass


class PluginDigestIter(DigestIter, plugin.AISBaseIterDataset):  # type: ignore[misc]
    pass


class OursDigestIter(DigestIter, ours.AISBaseIterDataset):
    pass


class PluginOddOnly(OddOnly, plugin.AISIterDataset):  # type: ignore[misc]
    pass


class OursOddOnly(OddOnly, ours.AISIterDataset):
    pass


_CLASSES: dict[tuple[str, type], type] = {
    (plugin.__name__, UpperItem): PluginUpperItem,
    (ours.__name__, UpperItem): OursUpperItem,
    (plugin.__name__, ObjListItem): PluginObjListItem,
    (ours.__name__, ObjListItem): OursObjListItem,
    (plugin.__name__, DigestIter): PluginDigestIter,
    (ours.__name__, DigestIter): OursDigestIter,
    (plugin.__name__, OddOnly): PluginOddOnly,
    (ours.__name__, OddOnly): OursOddOnly,
}


def subclass(impl: ModuleType, behaviour: type) -> Any:
    """The class that adds ``behaviour`` (a mixin above) to ``impl``'s base class."""
    return _CLASSES[(impl.__name__, behaviour)]

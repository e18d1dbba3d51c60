"""Spelled-out signatures: a dataset whose ``__init__`` forwards ``**kwargs`` to its bases shows
every keyword it accepts (``help()``, ``inspect.signature``, IDEs) instead of ``**kwargs``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

__all__ = ["spelled_out"]

C = TypeVar("C", bound=type)

_INTERNAL = frozenset({"self", "origin", "stream"})  # what the classes fill in themselves
_P = inspect.Parameter


def spelled_out(*hide: str) -> Callable[[C], C]:
    """A class decorator: give ``__init__`` the signature with its ``**kwargs`` replaced by
    the keyword parameters of the bases' ``__init__`` methods it forwards to (keyword-only),
    except the names in ``hide`` (the class passes them itself).

    A name a class already takes is not repeated; a base's ``**kwargs`` stays only when the
    last base still has one (nothing more to spell out)."""

    def decorate(cls: C) -> C:
        _spell(cls, _INTERNAL | set(hide))
        return cls

    return decorate


def _spell(cls: type, internal: frozenset[str] | set[str]) -> None:
    init = cls.__dict__["__init__"]
    params = list(inspect.signature(init).parameters.values())
    if not params or params[-1].kind is not _P.VAR_KEYWORD:
        return
    taken = {p.name for p in params}
    extra: list[inspect.Parameter] = []
    rest: inspect.Parameter | None = params[-1]
    for base in cls.__mro__[1:]:
        base_init = base.__dict__.get("__init__")
        if base_init is None or base is object or not inspect.isfunction(base_init):
            continue
        rest = None
        for p in inspect.signature(base_init).parameters.values():
            if p.kind is _P.VAR_KEYWORD:
                rest = p
            elif p.kind is not _P.VAR_POSITIONAL and p.name not in taken | internal:
                taken.add(p.name)
                extra.append(p.replace(kind=_P.KEYWORD_ONLY))
        if rest is None:
            break
    spelled = params[:-1] + extra + ([rest] if rest is not None else [])
    init.__signature__ = inspect.Signature(spelled, return_annotation=None)

"""Server-side ETL: which transform the cluster applies to an object while serving it (pure).

AIS transforms an object inline when a GET carries ``etl_name`` (and optionally ``etl_args``):
the target streams the transformed bytes. :class:`Etl` names one such transform; every read
API and dataset takes ``etl=`` (or the plugin's ``etl_name=``) and passes it through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aisloader.errors import ConfigError

__all__ = ["Etl", "EtlLike"]


@dataclass(frozen=True, slots=True)
class Etl:
    """One ETL, as the cluster knows it.

    Attributes:
        name: the ETL's name on the cluster (``ais etl init ...``).
        args: its arguments: a string, or a mapping sent as compact JSON (as the SDK does).

    Raises:
        ConfigError: an empty name.
    """

    name: str
    args: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ConfigError(f"an ETL needs a non-empty name, got {self.name!r}")

    @classmethod
    def of(cls, value: EtlLike) -> Etl | None:
        """Accept an :class:`Etl`, a name, an SDK ``ETLConfig`` (duck-typed), or None.

        Raises:
            ConfigError: an empty name or an unsupported value.
        """
        if value is None or isinstance(value, Etl):
            return value
        if isinstance(value, str):
            return cls(value) if value else None
        name = getattr(value, "name", None)
        if name is None and hasattr(value, "args"):  # an SDK ETLConfig without a name
            return None
        name = getattr(name, "name", name)  # ETLConfig(name=Etl(...)) holds an SDK Etl
        if isinstance(name, str) and name:
            return cls(name, _args(getattr(value, "args", None)))
        raise ConfigError(f"unsupported ETL {value!r}: pass its name, an Etl or an ETLConfig")

    def query(self) -> dict[str, str]:
        """The GET query parameters that ask the cluster for this transform."""
        out = {"etl_name": self.name}
        if self.args:
            out["etl_args"] = self.args
        return out

    def describe(self) -> str:
        """``ETL 'name'`` for messages."""
        return f"ETL {self.name!r}"


def _args(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        return json.dumps(dict(value), separators=(",", ":"))
    raise ConfigError(f"ETL args must be a string or a mapping, got {type(value).__name__}")


EtlLike = Etl | str | Any | None
"""What ``etl=`` accepts: an :class:`Etl`, a name, an SDK ``ETLConfig``, or None."""

"""Fixtures of the differential tests: ``impl`` (the plugin or aisloader), no ``AIS_ENDPOINT``
(SDK sources must bring their cluster), and a shard-preserving test ETL. The cluster and the
``bucket`` fixture come from ``tests/conftest.py``."""

from __future__ import annotations

import contextlib
import importlib
import io
import tarfile
from types import ModuleType

import pytest

from aisloader.server import LocalCluster

from .util import IDS, IMPLS

TAR_UPPER = "tar-upper"
"""A test ETL that upper-cases every member of a tar (the shard stays a valid tar)."""


@pytest.fixture(params=IMPLS, ids=IDS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """``aistore.pytorch`` or ``aisloader.torch`` (override with ``indirect=True``)."""
    return importlib.import_module(request.param)


@pytest.fixture(autouse=True)
def _no_endpoint_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``AIS_ENDPOINT`` unset: datasets must find the cluster through their SDK sources."""
    monkeypatch.delenv("AIS_ENDPOINT", raising=False)


def _upper_members(data: bytes, args: str | None) -> bytes:
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(data), mode="r:") as src,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member in src.getmembers():
            extracted = src.extractfile(member)
            body = extracted.read().upper() if extracted is not None else b""
            member.size = len(body)
            dst.addfile(member, io.BytesIO(body))
    return out.getvalue()


@pytest.fixture
def tar_upper(cluster: LocalCluster) -> str:
    """The name of the ``tar-upper`` ETL, registered on the cluster (once per run)."""
    with contextlib.suppress(ValueError):  # registered by an earlier test
        cluster.register_etl(TAR_UPPER, _upper_members)
    return TAR_UPPER

"""Fixtures: the package cluster, bucket and client come from ``tests/conftest.py``; FAST and
fake_server are re-exported for this package's tests."""

from __future__ import annotations

from _shared import FAST, fake_server

__all__ = ["FAST", "fake_server"]

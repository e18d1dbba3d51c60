"""Fixtures: the package cluster, bucket and client come from ``tests/conftest.py``."""

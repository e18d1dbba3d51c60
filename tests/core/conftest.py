"""Fixtures: the cluster, bucket and client come from ``tests/conftest.py``."""

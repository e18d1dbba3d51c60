"""The embedded cluster in its own process, for the bench and the benchmark scripts."""

from __future__ import annotations

import subprocess
import sys
from typing import IO

__all__ = ["start_cluster"]


def start_cluster(
    root: str | None = None, *, log: IO[bytes] | None = None, latency: float = 0.0
) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m aisloader serve [--root root] [--latency latency]``; return it and
    its endpoint.

    The endpoint is the first line the cluster prints; its log (stderr) goes to ``log`` or is
    dropped. The caller terminates the process.

    Raises:
        OSError: the cluster did not print an endpoint.
    """
    cmd = [sys.executable, "-m", "aisloader", "serve", "--targets", "2"]
    if root is not None:
        cmd += ["--root", root]
    if latency:
        cmd += ["--latency", repr(latency)]
    stderr = log if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert proc.stdout is not None
    endpoint = proc.stdout.readline().strip()
    if not endpoint.startswith("http"):
        proc.kill()
        proc.wait()
        raise OSError(f"the embedded cluster did not start (got {endpoint!r})")
    return proc, endpoint

"""``python -m aisloader {serve,bench,ls,get,put,mb}`` and ``--version``: dispatch to the
sub-command's own module.

Each sub-command lives in its layer (``server.cli``, ``bench.cli``, ``cli``) and is imported
only when used, so ``serve`` never loads the client and ``ls`` never loads torch.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata

_COMMANDS = {
    "serve": ("aisloader.server.cli", "run an embedded AIS-compatible cluster in the foreground"),
    "bench": ("aisloader.bench.cli", "measure loading throughput (embedded cluster by default)"),
    "ls": ("aisloader.cli", "list objects: ls ais://bucket[/prefix]"),
    "get": ("aisloader.cli", "print an object to stdout: get ais://bucket/object [-o FILE]"),
    "put": ("aisloader.cli", "upload: put FILE|DIR|- ais://bucket[/name or prefix/]"),
    "mb": ("aisloader.cli", "make buckets: mb ais://bucket ..."),
}
_NAMED = {"ls", "get", "put", "mb"}
"""Sub-commands of ``aisloader.cli``: its ``main`` takes the command name first."""


def _usage() -> str:
    lines = ["usage: python -m aisloader <command> [options]", "", "commands:"]
    lines += [f"  {name:<6} {help_}" for name, (_, help_) in _COMMANDS.items()]
    lines += ["", "python -m aisloader <command> --help: the command's options"]
    lines += ["python -m aisloader --version: the installed version"]
    return "\n".join(lines)


def _version() -> int:
    try:
        print(f"aisloader {metadata.version('aisloader')}")
    except metadata.PackageNotFoundError:
        print("aisloader: version unknown: the package is not installed", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command and return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] == "--version":
        return _version()
    name, rest = args[0], args[1:]
    if name not in _COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(_COMMANDS[name][0])
    code: int = module.main([name, *rest] if name in _NAMED else rest)
    return code


if __name__ == "__main__":
    sys.exit(main())

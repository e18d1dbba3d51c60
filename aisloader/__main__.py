"""``python -m aisloader {serve,bench,ls,get}``: dispatch to the sub-command's own module.

Each sub-command lives in its layer (``server.cli``, ``bench.cli``, ``cli``) and is imported
only when used, so ``serve`` never loads the client and ``ls`` never loads torch.
"""

from __future__ import annotations

import importlib
import sys

_COMMANDS = {
    "serve": ("aisloader.server.cli", "run an embedded AIS-compatible cluster in the foreground"),
    "bench": ("aisloader.bench.cli", "measure loading throughput (embedded cluster by default)"),
    "ls": ("aisloader.cli", "list objects: ls ais://bucket[/prefix]"),
    "get": ("aisloader.cli", "print an object to stdout: get ais://bucket/object"),
}


def _usage() -> str:
    lines = ["usage: python -m aisloader <command> [options]", "", "commands:"]
    lines += [f"  {name:<6} {help_}" for name, (_, help_) in _COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command and return its exit code."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in _COMMANDS:
        print(f"unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(_COMMANDS[name][0])
    code: int = module.main(rest) if name not in ("ls", "get") else module.main([name, *rest])
    return code


if __name__ == "__main__":
    sys.exit(main())

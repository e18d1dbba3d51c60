"""Deterministic fault injection rules and their decision engine.

A decision depends only on ``(seed, rule index, method, path+query without the redirect
marker, n-th occurrence of that exact request)`` for ``fraction`` rules (`fault_key` builds that
key), so it does not depend on how concurrent requests interleave. ``every=k`` rules fire on
every k-th matching request (that one counts in arrival order). The first rule that fires wins;
every matching rule still counts.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

import xxhash

__all__ = [
    "BODY_KINDS",
    "Fault",
    "FaultEngine",
    "fault_key",
    "fault_mix",
    "parse_faults_body",
    "service_latency",
]

FaultKind = Literal["status", "reset", "truncate", "latency", "slow"]
Hop = Literal["proxy", "target", "any"]
KINDS = ("status", "reset", "truncate", "latency", "slow")
BODY_KINDS = frozenset({"reset", "truncate", "slow"})
_MAX_KEYS = 1_000_000  # bound on remembered per-request occurrence counters
_MARKER = ("pid=", "utm=", "tid=")  # redirect marker query parameters
_BATCH_DT_PATH = "/v1/ml/moss/"  # a designated target's get-batch URL starts with this


def fault_key(method: str, raw_path: str, raw_query: str) -> str:
    """The determinism key of a request: ``METHOD path?query`` without the redirect marker.

    A designated target's get-batch URL ``/v1/ml/moss[/b]/{xid}/{wid}/{nat}`` also loses its job
    and work ids, so a decision on it depends, as for any other request, on the n-th occurrence
    of the same request, not on which target was designated or on an id that changes per batch.
    """
    kept = "&".join(p for p in raw_query.split("&") if p and not p.startswith(_MARKER))
    path = raw_path
    if path.startswith(_BATCH_DT_PATH):
        parts = path.split("/")
        if len(parts) >= 7:
            parts[-3] = parts[-2] = "-"
        path = "/".join(parts)
    return f"{method} {path}?{kept}"


@dataclass(frozen=True)
class Fault:
    """One fault rule (see the module docstring for how decisions are made).

    Raises:
        ValueError: for an unknown kind or hop, a fraction outside [0, 1], negative
            ``every``/``delay``, or a status outside 100..599.
    """

    kind: FaultKind
    fraction: float = 0.0
    every: int = 0
    status: int = 503
    delay: float = 0.0
    hop: Hop = "any"
    methods: tuple[str, ...] = ("GET",)
    path_prefix: str = "/v1/objects/"

    def __post_init__(self) -> None:
        _check_types(self)
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")
        if self.hop not in ("proxy", "target", "any"):
            raise ValueError(f"unknown hop {self.hop!r}")
        if not 0.0 <= self.fraction <= 1.0 or self.every < 0 or self.delay < 0:
            raise ValueError("fraction must be in [0, 1]; every and delay must be >= 0")
        if not 100 <= self.status <= 599:
            raise ValueError(f"bad status {self.status}")
        object.__setattr__(self, "methods", tuple(m.upper() for m in self.methods))

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Fault:
        """Build a rule from its JSON form (the admin route's body).

        Raises:
            ValueError: for unknown fields or bad values.
        """
        known = set(cls.__dataclass_fields__)
        if extra := set(d) - known:
            raise ValueError(f"unknown fault fields {sorted(extra)}")
        args = dict(d)
        if "methods" in args:
            if not isinstance(args["methods"], list | tuple):
                raise ValueError("fault field 'methods' must be a list of strings")
            args["methods"] = tuple(args["methods"])
        return cls(**args)

    def to_json(self) -> dict[str, Any]:
        """The rule as a JSON-friendly dict."""
        out = asdict(self)
        out["methods"] = list(self.methods)
        return out


_NUMBER = (int, float)
_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "fraction": _NUMBER,
    "every": (int,),
    "status": (int,),
    "delay": _NUMBER,
    "hop": (str,),
    "path_prefix": (str,),
}


def _check_types(rule: Fault) -> None:
    """Refuse fields of the wrong JSON type up front: a rule is matched on every later
    request, so a bad one would otherwise fail there (a 500), not where it was installed."""
    for name, types in _TYPES.items():
        value = getattr(rule, name)
        if not isinstance(value, types) or isinstance(value, bool):
            raise ValueError(f"fault field {name!r} has the wrong type {type(value).__name__}")
    methods = rule.methods
    if isinstance(methods, str) or not all(isinstance(m, str) for m in methods):
        raise ValueError("fault field 'methods' must be a list of strings")


@dataclass
class _State:
    seed: int = 0
    rules: tuple[Fault, ...] = ()
    matched: list[int] = field(default_factory=list)
    injected: list[int] = field(default_factory=list)
    seen: dict[tuple[int, str, str], int] = field(default_factory=dict)


class FaultEngine:
    """Holds the active rules; thread-safe (rules are replaced from any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        self.injected_by_kind: dict[str, int] = dict.fromkeys(KINDS, 0)

    def set(self, faults: Sequence[Fault], seed: int = 0) -> None:
        """Replace all rules and reset their counters."""
        rules = tuple(faults)
        with self._lock:
            self._state = _State(seed, rules, [0] * len(rules), [0] * len(rules))

    def clear(self) -> None:
        """Remove all rules."""
        self.set(())

    @property
    def active(self) -> bool:
        """Whether any rule is installed (cheap check for the request fast path)."""
        return bool(self._state.rules)

    def decide(
        self, hop: str, method: str, key: str, path: str, redirecting: bool
    ) -> tuple[int, Fault] | None:
        """Return ``(rule index, rule)`` of the fault to inject for this request, or None.

        Args:
            hop: ``"proxy"`` or ``"target"``.
            method: HTTP method.
            key: ``METHOD path?query`` without the redirect marker (the determinism key).
            path: decoded URL path, matched against ``path_prefix``.
            redirecting: the proxy will answer with a bodiless redirect, so body faults
                (reset, truncate, slow) do not match here and are left to the target.
        """
        with self._lock:
            st = self._state
            chosen: tuple[int, Fault] | None = None
            for i, rule in enumerate(st.rules):
                if not self._matches(rule, hop, method, path, redirecting):
                    continue
                st.matched[i] += 1
                if len(st.seen) >= _MAX_KEYS:
                    st.seen.clear()
                n = st.seen.get((i, hop, key), 0)
                st.seen[(i, hop, key)] = n + 1
                if chosen is None and self._fires(st, i, rule, key, n):
                    chosen = (i, rule)
            return chosen

    @staticmethod
    def _matches(rule: Fault, hop: str, method: str, path: str, redirecting: bool) -> bool:
        if rule.hop not in ("any", hop) or method not in rule.methods:
            return False
        if redirecting and rule.kind in BODY_KINDS:
            return False
        return path.startswith(rule.path_prefix)

    @staticmethod
    def _fires(st: _State, i: int, rule: Fault, key: str, n: int) -> bool:
        if rule.every > 0:
            return st.matched[i] % rule.every == 0
        if rule.fraction <= 0.0:
            return False
        h = xxhash.xxh64_intdigest(f"{st.seed}\x00{i}\x00{key}\x00{n}".encode())
        return h / 2.0**64 < rule.fraction

    def note_injected(self, index: int, kind: str) -> None:
        """Count a fault that was actually applied."""
        with self._lock:
            if index < len(self._state.injected):
                self._state.injected[index] += 1
            self.injected_by_kind[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        """Rules and counters as JSON (``GET /v1/_emu/faults``)."""
        with self._lock:
            st = self._state
            return {
                "seed": st.seed,
                "faults": [r.to_json() for r in st.rules],
                "matched": list(st.matched),
                "injected": list(st.injected),
                "injected_by_kind": dict(self.injected_by_kind),
            }


def parse_faults_body(body: Any) -> tuple[list[Fault], int]:
    """Parse ``{"seed": int, "faults": [...]}`` from the admin route.

    Raises:
        ValueError: when the body has the wrong shape or a rule is invalid.
    """
    if not isinstance(body, dict) or not isinstance(body.get("faults", []), list):
        raise ValueError('expected {"seed": int, "faults": [ {...}, ... ]}')
    seed = body.get("seed", 0)
    if not isinstance(seed, int):
        raise ValueError("seed must be an integer")
    items = cast(list[Any], body.get("faults", []))
    if not all(isinstance(x, dict) for x in items):
        raise ValueError("each fault must be a JSON object")
    return [Fault.from_json(x) for x in items], seed


def service_latency(seconds: float) -> list[Fault]:
    """Rules that delay every target GET, object and get-batch alike, by ``seconds``: the
    service time of a real node (disk and network), for realistic benchmarks. Requests are
    delayed concurrently (no queueing), so it models latency, not a throughput cap.

    Raises:
        ValueError: ``seconds`` < 0.
    """
    return [
        Fault("latency", every=1, delay=seconds, hop="target", path_prefix=prefix)
        for prefix in ("/v1/objects/", "/v1/ml/moss")
    ]


def fault_mix(prefix: str = "/v1/") -> list[Fault]:
    """A soak test's fault mix on every request under ``prefix`` (reads, listings, get-batch): ~3%
    connection resets and 2% truncated bodies (every 33rd / 50th answer with a body, so each
    kind fires in any run of at least 50 such answers), 5% 503 and 5% 429 on every request
    (each hop of a redirected one), and 10 ms of latency on 10% of requests. The first rule
    that fires wins."""
    return [
        Fault("reset", every=33, path_prefix=prefix),
        Fault("truncate", every=50, path_prefix=prefix),
        Fault("status", fraction=0.05, status=503, path_prefix=prefix),
        Fault("status", fraction=0.05, status=429, path_prefix=prefix),
        Fault("latency", fraction=0.10, delay=0.01, path_prefix=prefix),
    ]

"""Stream states for resume: what they hold, how they are checked, and how parts merge.

A state (``version`` 1) is a plain dict, safe to ``torch.save`` or JSON::

    {"version": 1, "stream": "ObjectStream", "fingerprint": "<listing digest>",
     "epoch": 3, "seed": 0, "shuffle": True, "size": 100000,
     "rounds": [[4, [812, 811, 811, 811]]],    # interrupted layouts before this one
     "part": [1, 2], "delivered": 4570}        # this part, and what it delivered

:func:`merge_states` turns the states of every part of one layout into one state whose
rounds include that layout, so any new layout (other world size or worker count) can resume
from it exactly once (:mod:`~aisloader.core.streams.progress`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aisloader.core.listing.manifest import Manifest
from aisloader.core.streams.order import Part
from aisloader.core.streams.progress import Plan, Round, merge_rounds
from aisloader.core.streams.shard_cursor import leftovers
from aisloader.errors import ResumeError

__all__ = ["VERSION", "Resumable", "bundle", "check_state", "choose", "make_state", "merge_states"]

VERSION = 1


class Resumable(Protocol):
    """What a state is taken from: an epoch stream."""

    epoch: int
    seed: int
    shuffle: bool
    part: Part
    rounds: tuple[Round, ...]
    ranks: int

    @property
    def equal(self) -> str | None: ...

    def order_size(self, manifest: Manifest) -> int: ...


def make_state(stream: Resumable, manifest: Manifest, delivered: int) -> dict[str, Any]:
    """``stream``'s state after its part delivered ``delivered`` items of the current round."""
    return {
        "version": VERSION,
        "stream": type(stream).__name__,
        "fingerprint": manifest.fingerprint(),
        "epoch": stream.epoch,
        "seed": stream.seed,
        "shuffle": stream.shuffle,
        "size": stream.order_size(manifest),
        "rounds": [[r.count, list(r.done)] for r in stream.rounds],
        "part": [stream.part.index, stream.part.count],
        "delivered": delivered,
    }


def check_state(
    stream: Resumable, state: Mapping[str, Any], manifest: Manifest
) -> tuple[int, tuple[Round, ...], int]:
    """``(epoch, rounds, skip)`` to resume ``stream``'s part from ``state``.

    Raises:
        ResumeError: another version, stream kind, listing, order, or a layout it cannot
            resume (a single part's state on another layout: merge all parts' states).
    """
    _same(state, "version", VERSION, "state version")
    _same(state, "stream", type(stream).__name__, "stream kind")
    _same(state, "fingerprint", manifest.fingerprint(), "listing (other sources or objects)")
    if getattr(stream, "equal", None) and state.get("size") != stream.order_size(manifest):
        raise ResumeError(
            f"equal={stream.equal!r} sizes the epoch by the rank count: the state's epoch has "
            f"{state.get('size')} positions, this layout ({stream.ranks} ranks) "
            f"{stream.order_size(manifest)}; resume on the old world size, or without equal"
        )
    _same(state, "size", stream.order_size(manifest), "epoch size")
    _same(state, "seed", stream.seed, "seed")
    _same(state, "shuffle", stream.shuffle, "shuffle")
    try:
        rounds = tuple(Round(int(c), tuple(int(d) for d in done)) for c, done in state["rounds"])
        Plan(int(state["size"]), rounds).left()
    except (KeyError, TypeError, ValueError) as exc:
        raise ResumeError(f"malformed resume state: {exc}") from None
    part = state.get("part")
    mine = [stream.part.index, stream.part.count]
    if part is None:  # merged: every part of the last layout is accounted for
        return int(state["epoch"]), rounds, 0
    if list(part) != mine:
        raise ResumeError(
            f"this state is part {part[0]} of {part[1]} and cannot resume part {mine[0]} of "
            f"{mine[1]} (another world size or worker count): collect the states of all "
            f"{part[1]} parts and resume from merge_states(states)"
        )
    delivered = int(state["delivered"])
    if not 0 <= delivered <= Plan(int(state["size"]), rounds).part_size(stream.part):
        raise ResumeError(f"state says part {mine} delivered {delivered}: more than its share")
    return int(state["epoch"]), rounds, delivered


def merge_states(states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One state from the states of every part of one layout (all ranks × workers).

    Raises:
        ResumeError: no states, states of different datasets/epochs/rounds, a part missing or
            given twice, or a state that is already merged.
    """
    if not states:
        raise ResumeError("merge_states needs the states of every part, got none")
    first = states[0]
    for state in states[1:]:
        for key in ("version", "stream", "fingerprint", "epoch", "seed", "shuffle", "size"):
            _same(state, key, first.get(key), key)
        if any(state.get(k) != first.get(k) for k in ("rounds", "leftovers")):
            raise ResumeError("the states come from different resumes of the epoch")
    if any(s.get("part") is None for s in states):
        raise ResumeError("a merged state cannot be merged again; pass the parts' own states")
    try:
        rnd = merge_rounds([(s["part"][0], s["part"][1], int(s["delivered"])) for s in states])
    except ValueError as exc:
        raise ResumeError(str(exc)) from None
    merged = dict(first)
    merged["rounds"] = [*first["rounds"], [rnd.count, list(rnd.done)]]
    if any("cursor" in s for s in states):  # shard streams: shards not fully delivered
        parts = [(s["part"][0], s["part"][1], s.get("cursor") or {}) for s in states]
        merged["leftovers"] = leftovers(first.get("leftovers", ()), parts)
        merged.pop("cursor", None)
        merged.pop("seen", None)
    merged["part"], merged["delivered"] = None, 0
    return merged


def _same(state: Mapping[str, Any], key: str, want: Any, what: str) -> None:
    if state.get(key) != want:
        raise ResumeError(
            f"cannot resume from this state: its {what} is {state.get(key)!r}, this dataset's "
            f"is {want!r} (a state resumes only the dataset it was taken from)"
        )


def bundle(states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One loadable state holding the states of several parts (a rank's workers, or every
    part of a job): each part resumes from its own; a new layout from their merge."""
    return {"version": VERSION, "parts": [dict(s) for s in states]}


def choose(state: Mapping[str, Any], part: Part) -> Mapping[str, Any]:
    """The state ``part`` resumes from: ``state`` itself, or out of a :func:`bundle` its own
    part's state — or, when the bundle holds every part of another layout, their merge.

    Raises:
        ResumeError: a bundle without this part's state that is not a whole layout either.
    """
    parts = state.get("parts")
    if parts is None:
        return state
    mine = [part.index, part.count]
    for candidate in parts:
        if candidate.get("part") is not None and list(candidate["part"]) == mine:
            return candidate  # type: ignore[no-any-return]
    try:
        return merge_states(parts)
    except ResumeError as exc:
        raise ResumeError(
            f"the bundle has no state for part {mine[0]} of {mine[1]}, and its states are not "
            f"every part of one layout ({exc}): bundle the states of all parts"
        ) from None

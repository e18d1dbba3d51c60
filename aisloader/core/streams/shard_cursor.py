"""Where a shard stream stands, described by position (pure rules).

A shard stream reads several shards at once (interleaved, or one after the other) and may pass
samples through a shuffle buffer; its consumer is often far behind it (a bridge queue, a
DataLoader worker's prefetch). To resume exactly, the state must describe what the *consumer*
took. So the stream attaches to every sample a *trace* of what happened in the stream since the
sample before: a shard started (its ordinal in the part's shard sequence, its index in the
listing, and which of its samples it still has to deliver), a sample taken from a shard
(ordinal, index within the shard), a shard ended — and the buffer slot the sample left from.

A :class:`ShardCursor` replays the traces of the samples consumed and so knows the stream's
state at the moment it produced the last of them: the shards started, how far each was read,
and which samples sat in the buffer, in slot order. That is a few integers per shard in flight
and per buffered sample — positions, never bytes. A resume on the same layout restarts the
shards in flight after their last sample taken, re-reads the buffered samples into the buffer
and continues in the order an uninterrupted run would have used; on another layout
(:func:`leftovers`) every shard not fully delivered becomes a *leftover*, dealt to the new parts
first with the :class:`Rule` of the samples it still owes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["END", "OPEN", "TAKE", "Rule", "ShardCursor", "leftovers"]

OPEN, END, TAKE = 0, 1, 2
"""Trace event kinds: ``(OPEN, ordinal, listing index, rule start, rule holes)``,
``(END, ordinal)``, ``(TAKE, ordinal, sample index)``."""

Trace = tuple[Sequence[tuple[Any, ...]], int]
"""What one sample carries: the events since the sample before, and its buffer slot (-1 for a
repeat that pads the part under ``equal="pad"``)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """The samples of a shard still to deliver: every one from index ``start`` on (none when
    ``start`` is -1), and the earlier ``holes``."""

    start: int = 0
    holes: tuple[int, ...] = ()

    def wants(self, index: int) -> bool:
        """Whether sample ``index`` is still to deliver."""
        return 0 <= self.start <= index or index in self.holes

    def past(self, index: int) -> bool:
        """Whether no sample after ``index`` is still to deliver (stop reading the shard)."""
        return self.start < 0 and all(h <= index for h in self.holes)

    @property
    def empty(self) -> bool:
        """Nothing left to deliver."""
        return self.start < 0 and not self.holes

    def after(self, last: int, ended: bool) -> Rule:
        """What is left once every wanted sample up to ``last`` (all, when ``ended``) was read."""
        if ended:
            return Rule(-1)
        start = max(self.start, last + 1) if self.start >= 0 else -1
        return Rule(start, tuple(h for h in self.holes if h > last and (start < 0 or h < start)))

    def plus(self, held: Iterable[int]) -> Rule:
        """This rule and the samples ``held`` (read, but still in a buffer)."""
        extra = {h for h in held if not 0 <= self.start <= h}
        return Rule(self.start, tuple(sorted(extra.union(self.holes))))


class ShardCursor:
    """Replays the traces of the consumed samples (see module docs)."""

    __slots__ = ("buffer", "emitted", "opened", "padded", "shards", "turn")

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        state = state or {}
        self.opened = int(state.get("opened", 0))  # ordinals started
        self.turn = int(state.get("turn", 0))  # samples taken from shards (the round-robin)
        self.emitted = int(state.get("emitted", 0))  # samples handed out
        self.padded = int(state.get("padded", 0))  # of which repeats (equal="pad", slot -1)
        # ordinal → [listing index, rule at start, last index taken (-1: none), ended, held]
        self.shards: dict[int, list[Any]] = {}
        for o, m, start, holes, ended in state.get("shards", ()):
            self.shards[int(o)] = [int(m), Rule(int(start), tuple(holes)), -1, bool(ended), 0]
        self.buffer: list[tuple[int, int]] = [(int(o), int(i)) for o, i in state.get("buffer", ())]
        for o, _ in self.buffer:
            self.shards[o][4] += 1

    def apply(self, trace: Trace) -> tuple[int, int]:
        """Replay one consumed sample's trace; return its (ordinal, index in the shard)."""
        events, slot = trace
        shards, buffer = self.shards, self.buffer
        for event in events:
            kind, o = event[0], event[1]
            if kind == TAKE:
                entry = shards[o]
                entry[2] = event[2]
                entry[4] += 1
                buffer.append((o, event[2]))
                self.turn += 1
            elif kind == OPEN:
                shards[o] = [event[2], Rule(event[3], tuple(event[4])), -1, False, 0]
                self.opened = max(self.opened, o + 1)
            else:
                entry = shards[o]
                entry[3] = True
                if not entry[4]:  # ended, and none of its samples waits in the buffer
                    del shards[o]
        self.emitted += 1
        if slot < 0:  # a repeat under equal="pad": after every sample of the part
            self.padded += 1
            return -1, -1
        buffer[slot], buffer[-1] = buffer[-1], buffer[slot]
        o, index = buffer.pop()
        entry = shards[o]
        entry[4] -= 1
        if entry[3] and not entry[4]:
            del shards[o]
        return o, index

    def in_flight(self) -> list[tuple[int, int, Rule]]:
        """The shards started and not ended, in start order: (ordinal, listing index, the rule
        of what each still owes after its last sample taken)."""
        return [
            (o, m, rule.after(last, False) if last >= 0 else rule)
            for o, (m, rule, last, ended, _) in sorted(self.shards.items())
            if not ended
        ]

    def held(self) -> list[tuple[int, int, int]]:
        """The buffered samples in slot order: (ordinal, listing index, index in the shard)."""
        return [(o, self.shards[o][0], i) for o, i in self.buffer]

    def state(self) -> dict[str, Any]:
        """Plain data: ``shards`` lists each shard started and not forgotten as
        ``[ordinal, listing index, rule start, rule holes, ended]`` with the rule of what it
        still owes beyond the buffer; ``buffer`` the buffered samples in slot order."""
        shards = []
        for o, (m, rule, last, ended, _) in sorted(self.shards.items()):
            left = rule.after(last, ended) if last >= 0 or ended else rule
            shards.append([o, m, left.start, list(left.holes), ended])
        return {
            "opened": self.opened,
            "turn": self.turn,
            "emitted": self.emitted,
            "padded": self.padded,
            "shards": shards,
            "buffer": [list(entry) for entry in self.buffer],
        }


def leftovers(
    old: Sequence[Sequence[Any]], parts: Sequence[tuple[int, int, Mapping[str, Any]]]
) -> list[list[Any]]:
    """The shards not fully delivered after one layout's round, as ``[listing index, start,
    holes]``: ``old`` are the leftovers the round started with (part ``i`` of ``n`` had
    ``old[i::n]`` first in its sequence), ``parts`` each part's (index, count, cursor state)."""
    out: list[list[Any]] = []
    for index, count, cursor in sorted(parts, key=lambda p: p[0]):
        share = old[index::count]
        opened = int(cursor.get("opened", 0))
        out.extend([int(m), int(s), list(h)] for m, s, h in share[opened:])
        byshard: dict[int, list[int]] = {}
        for o, i in cursor.get("buffer", ()):
            byshard.setdefault(int(o), []).append(int(i))
        for o, m, start, holes, _ in cursor.get("shards", ()):
            rule = Rule(int(start), tuple(holes)).plus(byshard.get(int(o), ()))
            if not rule.empty:
                out.append([int(m), rule.start, list(rule.holes)])
    return out

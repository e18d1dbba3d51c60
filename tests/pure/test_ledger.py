"""The consumption ledger: step order counts, order within a step does not; ranks add up."""

from __future__ import annotations

import pickle

from aisloader import Ledger


def _run(steps: list[list[str]], ledger: Ledger | None = None) -> Ledger:
    ledger = ledger or Ledger()
    for keys in steps:
        ledger.record(keys)
    return ledger


def test_resumed_equals_uninterrupted_and_differences_show() -> None:
    steps = [[f"o/{i}", f"o/{i + 50}"] for i in range(50)]
    whole = _run(steps)
    first = _run(steps[:20])
    resumed = Ledger()
    resumed.load_state_dict(pickle.loads(pickle.dumps(first.state_dict())))
    _run(steps[20:], resumed)
    assert resumed.state_dict() == whole.state_dict()
    shuffled_within = _run([list(reversed(s)) for s in steps])
    assert shuffled_within.digest == whole.digest  # order inside a step does not count
    swapped = _run([steps[1], steps[0], *steps[2:]])
    assert swapped.digest != whole.digest  # the order of steps does
    assert swapped.multiset == whole.multiset
    lost = _run([*steps[:-1], steps[-1][:1]])
    assert lost.multiset != whole.multiset
    assert lost.samples == whole.samples - 1


def test_ranks_combine_to_the_same_multiset_on_any_split() -> None:
    keys = [f"k{i}" for i in range(30)]
    one = _run([keys])
    two = _run([keys[0::2]]).combine(_run([keys[1::2]]))
    three = _run([keys[:5]]).combine(_run([keys[5:20]]), _run([keys[20:]]))
    assert one.multiset == two.multiset == three.multiset
    assert two.samples == three.samples == 30
    assert _run([keys[1:]]).multiset != one.multiset

"""Mid-epoch resume as a property: random cut points × modes × shuffle × worker counts 0/2/3 ×
world sizes 1/2/3, resumed in a fresh process on the same or another layout. The union of what
was delivered is exactly the epoch, and on the same layout the order is the uninterrupted one.

Phase 1 (here) reads every rank's uninterrupted pass with a loader checkpoint after each batch
(a checkpoint must not change what follows, so that pass is also the reference order); the
drawn cut picks one checkpoint per rank. Phase 2 runs in a long-lived spawned process that never
saw the datasets: it gets the states as bytes and returns the keys each new rank reads.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from resume_props_util import (
    MODES,
    Job,
    Key,
    Layout,
    flat,
    put_data,
    resume,
    run_with_checkpoints,
    sorted_keys,
    start_fresh_process,
    warm_up,
)

from aisloader.server import LocalCluster

PHASE_2_TIMEOUT = 120.0
"""Seconds the fresh process may take for one resume (a hang fails instead of blocking)."""


@pytest.fixture(scope="module")
def endpoint(cluster: LocalCluster) -> str:
    """Every mode's data, put once into this module's own bucket."""
    put_data(cluster)
    return cluster.endpoint


@pytest.fixture(scope="module")
def fresh() -> Iterator[ProcessPoolExecutor]:
    """One spawned process for every phase 2 of this module: it starts without the phase-1
    datasets, loaders or listings, as a restarted job does (and pays torch's import once)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=start_fresh_process) as pool:
        pool.submit(warm_up)  # its forkserver starts while the first phase 1 runs here
        yield pool


@dataclass(frozen=True)
class Case:
    """One drawn interruption: ``cuts[r]`` eighths of rank ``r``'s batches were consumed."""

    mode: str
    shuffle: bool
    seed: int
    batch_size: int
    old: Layout
    new: Layout
    cuts: tuple[int, ...]


WORLDS, WORKERS = (1, 2, 3), (0, 2, 3)


def _layout(world: int, workers: int, method: str) -> Layout:
    return Layout(world, workers, method if workers else None)


@st.composite
def cases(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Case:
    """A mode, order, layout and cut per rank; another layout for elastic modes half the time.

    Workers start by fork or forkserver (whose server preloads torch and aisloader), which
    pickles the dataset — a loaded resume state included — as spawn does; spawn itself (an
    interpreter and a torch import per worker: ~15 s a case on 2 cores) is left to
    ``test_torchds_resume.py``.
    """
    mode = draw(st.sampled_from(sorted(MODES)))
    world, workers = draw(st.sampled_from(WORLDS)), draw(st.sampled_from(WORKERS))
    methods = st.sampled_from(("fork", "forkserver"))
    old = _layout(world, workers, draw(methods))
    # Map-style resumes the same layout only: DistributedSampler's progress is a count of its
    # own indices, which cannot be re-split across another number of replicas.
    if MODES[mode].elastic and draw(st.booleans()):
        world, workers = draw(st.sampled_from(WORLDS)), draw(st.sampled_from(WORKERS))
        if (world, workers) == (old.world, old.workers):
            workers = WORKERS[(WORKERS.index(workers) + 1) % len(WORKERS)]
    new = _layout(world, workers, draw(methods))
    return Case(
        mode=mode,
        shuffle=draw(st.booleans()),
        seed=draw(st.integers(0, 3)),
        batch_size=draw(st.integers(1, 6)),
        old=old,
        new=new,
        cuts=tuple(draw(st.lists(st.integers(0, 8), min_size=old.world, max_size=old.world))),
    )


def _corner(mode: str, old: Layout, new: Layout, cuts: tuple[int, ...], **kw: Any) -> Case:
    return replace(Case(mode, True, 1, 4, old, new, cuts), **kw)


FORK3, SERVER3 = Layout(3, 3, "fork"), Layout(3, 3, "forkserver")


# The same cases on every run (derandomized, no example database), without shrinking: a case
# takes a second or more, so a shrink would outlast the test's timeout; the failing case and
# its note (batches per rank, cut points) are reported as drawn. ~40 s on 2 cores in all.
@pytest.mark.timeout(240)  # a hang guard, well above the usual duration under a loaded CI
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(_corner("objects", FORK3, SERVER3, (0, 8, 3)))  # nothing consumed / all / midway
@example(_corner("shards", FORK3, FORK3, (5, 0, 8)))  # 6 shards on 9 parts: some read none
@example(_corner("map", Layout(2, 2, "fork"), Layout(2, 2, "forkserver"), (8, 3), shuffle=False))
@example(_corner("get-batch", Layout(2, 2, "fork"), Layout(3, 0), (2, 8)))  # onto more ranks
@example(_corner("multishard", Layout(3, 0), Layout(2, 2, "forkserver"), (0, 4, 8)))  # fewer
@example(_corner("shards", Layout(2, 2, "fork"), Layout(3, 0), (0, 0)))  # at shard starts
@example(_corner("shards", FORK3, Layout(2, 2, "forkserver"), (0, 8, 4)))  # inside shards
@example(_corner("shards-det", Layout(2, 2, "fork"), Layout(2, 2, "fork"), (3, 5)))  # buffered
@example(_corner("shards-buffer", Layout(2, 2, "fork"), Layout(3, 0), (4, 2)))  # buffer, 2 -> 3
@given(case=cases())
def test_resume_delivers_the_epoch_exactly_once(
    endpoint: str, fresh: ProcessPoolExecutor, case: Case
) -> None:
    """Cut + resumed is the epoch exactly once; on the same layout, in the uninterrupted
    order (each drawn case also checks the uninterrupted pass against the epoch)."""
    check(endpoint, fresh, case)


def check(endpoint: str, fresh: ProcessPoolExecutor, case: Case, *, load: bool = True) -> None:
    """Phase 1 here, phase 2 in the fresh process, then the property (see module docs)."""
    mode = MODES[case.mode]
    runs = run_with_checkpoints(
        case.mode, endpoint, case.shuffle, case.seed, case.batch_size, case.old
    )
    whole = [flat(run.batches) for run in runs]
    _assert_is_the_epoch([k for keys in whole for k in keys], mode.epoch(), mode.pads)
    cuts = [len(run.batches) * eighths // 8 for run, eighths in zip(runs, case.cuts, strict=True)]
    _report(note, f"batches per rank {[len(r.batches) for r in runs]}, cut after {cuts}")
    taken = [flat(run.batches[:cut]) for run, cut in zip(runs, cuts, strict=True)]
    states = tuple(run.states[cut] for run, cut in zip(runs, cuts, strict=True))
    job = Job(
        case.mode,
        endpoint,
        case.shuffle,
        case.seed,
        case.batch_size,
        case.old,
        case.new,
        states,
        load,
    )
    rest = fresh.submit(resume, job).result(timeout=PHASE_2_TIMEOUT)
    _report(event, f"{case.mode}: {'same' if case.new.same(case.old) else 'another'} layout")
    if case.new.same(case.old):
        for rank, (before, after) in enumerate(zip(taken, rest, strict=True)):
            if mode.ordered:
                assert before + after == whole[rank], f"rank {rank}: not the uninterrupted order"
            else:
                _assert_is_the_epoch(before + after, whole[rank], pads=False)
    else:
        delivered = [k for keys in taken + rest for k in keys]
        _assert_is_the_epoch(delivered, mode.epoch(), pads=False)


def _report(how: Callable[[str], None], what: str) -> None:
    """A note or event for hypothesis's report (``check`` also runs outside ``@given``)."""
    if currently_in_test_context():
        how(what)


def _assert_is_the_epoch(keys: list[Key], epoch: list[Key], pads: bool) -> None:
    """``keys`` are the epoch exactly once each (as a set only when a sampler ``pads``)."""
    counts = Counter(keys)
    missing = sorted_keys(set(epoch) - set(counts))
    extra = sorted_keys(set(counts) - set(epoch))
    twice = sorted_keys(k for k, c in counts.items() if c > 1)
    assert not missing, f"never delivered: {missing[:5]}"
    assert not extra, f"not of the epoch: {extra[:5]}"
    assert pads or not twice, f"delivered more than once: {twice[:5]}"


@pytest.mark.parametrize(
    "case",
    [
        _corner("objects", Layout(2, 0), Layout(2, 0), (4, 8)),
        _corner("objects", Layout(2, 0), Layout(3, 0), (4, 8)),
    ],
    ids=["same-layout", "another-layout"],
)
def test_the_property_fails_when_the_state_is_ignored(
    endpoint: str, fresh: ProcessPoolExecutor, case: Case
) -> None:
    """A check that cannot fail proves nothing: resuming without loading the state reads the
    whole epoch again, and the property must say so."""
    with pytest.raises(AssertionError, match=r"uninterrupted order|more than once"):
        check(endpoint, fresh, case, load=False)

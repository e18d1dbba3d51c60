"""``LoaderProgress``: resume states for a plain ``torch.utils.data.DataLoader``.

torchdata's ``StatefulDataLoader`` collects each worker's dataset state by itself. With a plain
``DataLoader`` only the training loop knows what it consumed: batches. Count them::

    progress = LoaderProgress(dataset, batch_size=64, num_workers=4)
    for batch in DataLoader(dataset, batch_size=64, num_workers=4):
        train(batch)
        progress.step()
    checkpoint = progress.state_dict()   # this rank's workers, as a bundle of part states

    dataset.load_state_dict(checkpoint)  # later, same world size and workers

For another world size or worker count, put the states of every rank in one bundle
(``aisloader.core.streams.state.bundle([*rank0["parts"], *rank1["parts"], ...])``, e.g. via
``torch.distributed.all_gather_object``) and load that on every rank. With torchdata's
``StatefulDataLoader``, :func:`loader_states` takes the part states out of each rank's loader
state (``bundle([*loader_states(s0), *loader_states(s1)])``); the new loaders then get the
bundle through ``dataset.load_state_dict`` (a loader state only resumes its own layout).

How batches map to workers: a ``DataLoader`` over an iterable dataset returns its workers'
batches in turn (worker 0, 1, …, in order), each worker batching its own part; our parts
differ by at most one item, so a worker runs out only in the last round. From the count of
batches and each part's size the items every worker handed out follow exactly. This holds for
the default ``in_order=True`` and a ``batch_size`` (not a custom ``batch_sampler``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aisloader.core.streams.order import split
from aisloader.core.streams.state import bundle
from aisloader.errors import ConfigError
from aisloader.torch._base import ResumableIterable
from aisloader.torch._env import world

__all__ = ["LoaderProgress", "loader_states"]


class LoaderProgress:
    """Counts the batches a plain DataLoader handed out; turns them into resume states.

    Args:
        dataset: the (resumable) iterable dataset the loader reads, as passed to it.
        batch_size: the loader's ``batch_size``.
        num_workers: the loader's ``num_workers``.
        drop_last: the loader's ``drop_last``.

    Raises:
        ConfigError: a dataset that cannot resume, or a batch size < 1.
    """

    def __init__(
        self, dataset: Any, *, batch_size: int, num_workers: int = 0, drop_last: bool = False
    ) -> None:
        if not isinstance(dataset, ResumableIterable):
            raise ConfigError(f"{type(dataset).__name__} cannot resume mid-epoch")
        if not dataset.counts_positions:
            raise ConfigError(
                f"{type(dataset).__name__} samples are not counted by position (shards hold "
                "several, a shuffle buffer reorders them): use torchdata's StatefulDataLoader, "
                "which collects the dataset's own state from every worker"
            )
        if batch_size < 1 or num_workers < 0:
            raise ConfigError(f"bad batch_size {batch_size} or num_workers {num_workers}")
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.workers = max(1, num_workers)
        self.steps = 0
        self._start = dataset._resume  # where the loader started (None: the epoch's start)
        self._epoch = dataset._epoch + dataset._iterations

    def step(self, batches: int = 1) -> None:
        """Record that the training loop consumed ``batches`` more batches."""
        self.steps += batches

    def state_dict(self) -> dict[str, Any]:
        """A bundle of this rank's part states after the batches consumed so far."""
        ds = self.dataset
        rank, size = world(ds._rank, ds._world_size, ds._snapshot)
        manifest = ds.manifest()
        streams = []
        for worker in range(self.workers):
            part = split(rank, size, worker, self.workers)
            stream = ds._stream.bind(part=part, ranks=size, epoch=self._epoch)
            if self._start is not None:
                stream.resume(self._start, manifest)
            streams.append(stream)
        left = [s.part_size(manifest) - s.skip for s in streams]
        taken, turn = self._items_taken(left)
        states = [s.state(manifest, s.skip + n) for s, n in zip(streams, taken, strict=True)]
        out = bundle(states)
        out["rotate"] = turn  # the worker whose batch was next: first in the resumed rotation
        return out

    def _items_taken(self, left: list[int]) -> tuple[list[int], int]:
        """Items each worker handed out in the first ``steps`` batches (workers in turn,
        starting at the one that was first in turn), and the worker next in turn."""
        size, partial = self.batch_size, not self.drop_last
        first = int(self._start.get("rotate", 0)) if self._start is not None else 0
        order = [(first + i) % self.workers for i in range(self.workers)]
        batches = [n // size + (1 if n % size and partial else 0) for n in left]
        taken, step, rnd, turn = [0] * len(left), 0, 0, first
        while step < self.steps and any(b > rnd for b in batches):
            for w in order:
                if step < self.steps and rnd < batches[w]:
                    taken[w] += min(size, left[w] - taken[w])
                    step += 1
                    turn = order[(order.index(w) + 1) % len(order)]
            rnd += 1
        return taken, turn


def loader_states(loader_state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dataset part states inside a torchdata ``StatefulDataLoader.state_dict()`` (one per
    worker, or the one of a loader without workers), for :func:`~aisloader.merge_states` or
    :func:`~aisloader.core.streams.state.bundle`.

    Raises:
        ConfigError: not a StatefulDataLoader state, or one without dataset states (a dataset
            that cannot resume).
    """
    snapshot = loader_state.get("_snapshot")
    if isinstance(snapshot, Mapping):
        workers = snapshot.get("_worker_snapshots") or {}
        found = [w.get("dataset_state") for _, w in sorted(workers.items())]
    else:
        found = [loader_state.get("dataset_state")]
    states: list[dict[str, Any]] = []
    for state in found:
        if not isinstance(state, Mapping):
            raise ConfigError(
                "no aisloader dataset state in this loader state: pass the state_dict() of a "
                "StatefulDataLoader over a resumable aisloader dataset"
            )
        states.extend(dict(s) for s in state.get("parts", [state]))
    return states

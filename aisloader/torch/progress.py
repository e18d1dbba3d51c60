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
``torch.distributed.all_gather_object``) and load that on every rank.

How batches map to workers: a ``DataLoader`` over an iterable dataset returns its workers'
batches in turn (worker 0, 1, …, in order), each worker batching its own part; our parts
differ by at most one item, so a worker runs out only in the last round. From the count of
batches and each part's size the items every worker handed out follow exactly. This holds for
the default ``in_order=True`` and a ``batch_size`` (not a custom ``batch_sampler``).
"""

from __future__ import annotations

from typing import Any

from aisloader.core.streams.order import split
from aisloader.core.streams.state import bundle
from aisloader.errors import ConfigError
from aisloader.torch._base import ResumableIterable
from aisloader.torch._env import world

__all__ = ["LoaderProgress"]


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

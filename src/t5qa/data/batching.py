"""Token-budget batching (the fairseq `--max-tokens` idea): a batch holds as many inputs as fit a budget of padded
tokens, so every batch costs about the same compute and memory whatever the lengths.

The padded size of a batch is its number of inputs times the padded length of its longest input (`multiple`: the
collator pads to a multiple of 8 in training, to the longest input in prediction). The budget counts input (encoder)
tokens only; an input longer than the budget is a batch of its own, so nothing is ever dropped.

- Prediction (`token_budget_batches`): inputs sorted longest first, cut greedily into batches once; the batches are
  then dealt out to the processes (batch b to process b % N), so the predictions do not depend on N.
- Training (`TokenBudgetBatchSampler`): each epoch, the examples are sorted by padded length with the ties broken in
  an order drawn from (seed, epoch), so the examples sharing a padded length (a bucket) are mixed anew every epoch;
  the sorted order is cut greedily into batches and the batch order is shuffled by (seed, epoch), the batch of the
  longest inputs first (an out-of-memory shows at once). The cut depends only on the padded lengths, so every epoch
  has the same number of batches (the Trainer counts steps per epoch once) and the batches of an epoch are a pure
  function of the seed and the epoch: a resumed run, which skips the batches it has seen, continues exactly where
  an uninterrupted run is. With N processes the batch count is made a multiple of N (by halving the batches of the
  most inputs), and accelerate deals batch b to process b % N: every process gets whole batches, every example is
  seen exactly once per epoch (no example repeated to even out the processes), all processes take the same number
  of steps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from t5qa.errors import InputError


def padded_length(length: int, multiple: int = 1) -> int:
    return -(-length // multiple) * multiple


def cut_by_budget(order: Sequence[int], lengths: Sequence[int], budget: int, multiple: int = 1) -> list[list[int]]:
    """`order` (indices into `lengths`) cut, in order, into batches of as many inputs as fit `budget` padded tokens
    (inputs × the padded length of the batch's longest), at least one each."""
    batches: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i in order:
        size = padded_length(lengths[i], multiple)
        if current and (len(current) + 1) * max(width, size) > budget:
            batches.append(current)
            current, width = [], 0
        current.append(i)
        width = max(width, size)
    if current:
        batches.append(current)
    return batches


def token_budget_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Prediction's batches: longest first (ties by position), each within `budget` padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return cut_by_budget(order, lengths, budget)


def split_to_multiple(sizes: list[int], processes: int) -> list[int]:
    """Batch sizes (inputs per batch, in order) with the largest batches halved until their number is a multiple
    of `processes`: each process then gets whole batches, and no example is repeated to even them out."""
    sizes = list(sizes)
    if sum(sizes) < processes:
        raise InputError(f"{sum(sizes)} training examples cannot be spread over {processes} processes")
    while len(sizes) % processes:
        largest = max(range(len(sizes)), key=lambda b: (sizes[b], b))  # ties: the shortest inputs (last)
        half = sizes[largest] // 2
        sizes[largest : largest + 1] = [sizes[largest] - half, half]
    return sizes


class TokenBudgetBatchSampler(Sampler[list[int]]):
    """Training batches of length-bucketed examples within a token budget, in an order that depends only on
    (seed, epoch); see the module's docstring. A batch sampler: the DataLoader takes it as `batch_sampler`."""

    def __init__(self, lengths: Sequence[int], budget: int, seed: int, multiple: int = 8, processes: int = 1):
        if not lengths:
            raise InputError("no training examples to batch")
        self.padded = np.array([padded_length(int(n), multiple) for n in lengths], dtype=np.int64)
        self.budget = budget
        self.seed = seed
        self.epoch = 0
        by_length = sorted(range(len(self.padded)), key=lambda i: -self.padded[i])
        cut = cut_by_budget(by_length, self.padded.tolist(), budget)
        self.sizes = split_to_multiple([len(b) for b in cut], processes)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        ties = rng.permutation(len(self.padded))
        order = np.lexsort((ties, -self.padded)).tolist()  # by padded length (longest first), ties at random
        batches, start = [], 0
        for size in self.sizes:
            batches.append(order[start : start + size])
            start += size
        rest = rng.permutation(np.arange(1, len(batches))).tolist()  # the longest batch stays first
        return [batches[0], *(batches[b] for b in rest)]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches(self.epoch)

    def __len__(self) -> int:
        return len(self.sizes)

    def mean_batch(self) -> float:
        return float(len(self.padded) / len(self.sizes))


def torch_threads(requested: int | None = None) -> int:
    """The intra-op threads one process of this job should use: the job's threads (`requested`, what Snakemake
    passes; else OMP_NUM_THREADS; else every core this process may run on), never more than the cores it may run on
    (under Slurm its cgroup's, whatever OMP_NUM_THREADS says), shared by the processes `accelerate launch` started on
    this machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if requested is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        requested = int(env) if env.isdigit() and int(env) > 0 else cores
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, min(requested, cores) // max(1, local_processes))


def use_job_threads(requested: int | None = None) -> int:
    """Set torch's thread count to `torch_threads(requested)`; returns it."""
    import torch

    threads = torch_threads(requested)
    torch.set_num_threads(threads)
    return threads

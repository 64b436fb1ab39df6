"""The trainer: `Seq2SeqTrainer` with a resumable data order (length-grouped batches seeded by epoch, or token-budget
batches), the loss of an optimizer step as the mean over every answer token of the step (`QATrainer.compute_loss`),
evaluation gathered without repeats, and a training throughput in each logged line. t5qa.model.train sets it up."""

from __future__ import annotations

import functools
import logging
import time

import pyarrow
import pyarrow.compute
import torch
from transformers import Seq2SeqTrainer
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import seed_worker

from t5qa.data.batching import TokenBudgetBatchSampler

log = logging.getLogger("t5qa.model.train")


class EpochSeededLengthGroupedSampler(LengthGroupedSampler):
    """Length-grouped batches in an order that depends only on (seed, epoch).

    The Trainer's own LengthGroupedSampler draws from the global RNG at the start of each epoch; a run resumed
    in a later epoch has skipped the draws of the earlier ones, so it saw the data in another order than an
    uninterrupted run. Seeding per epoch makes the order a pure function of the seed and the epoch number.
    """

    def __init__(self, batch_size: int, lengths: list[int], seed: int):
        super().__init__(batch_size, lengths=lengths, generator=torch.Generator())
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed * 100_003 + epoch)


class QATrainer(Seq2SeqTrainer):
    """Seq2SeqTrainer with a resumable data order, token-budget batches (`batch_tokens`) and a training throughput
    in each logged line."""

    def __init__(self, *args, batch_tokens: int | None = None, pad_multiple: int = 8, **kwargs):
        self.batch_tokens = batch_tokens
        self.pad_multiple = pad_multiple  # the collator's pad_to_multiple_of: the budget counts padded lengths
        super().__init__(*args, **kwargs)
        self.last_log: tuple[float, int] | None = None  # (time, step) of the previous training log line
        self.evaluation_seconds = 0.0  # since then
        self.examples_seen = 0  # by this process since the previous training log line

    def get_train_dataloader(self) -> torch.utils.data.DataLoader:
        """With `batch_tokens`, the Trainer's DataLoader (collator, workers, accelerate's preparation) with a
        TokenBudgetBatchSampler as its batch sampler. accelerate deals its batches out (batch b to process b % N; the
        sampler makes their number a multiple of N), and on resume skips the batches already trained on
        (skip_first_batches), which are the same ones: the batches are a function of the seed and the epoch."""
        if self.batch_tokens is None:
            return super().get_train_dataloader()
        dataset = self.train_dataset
        lengths = pyarrow.compute.list_value_length(dataset.with_format("arrow")["input_ids"]).to_pylist()
        sampler = TokenBudgetBatchSampler(
            lengths, self.batch_tokens, self.args.data_seed, self.pad_multiple, max(1, self.args.world_size)
        )
        self.epoch_sampler = sampler
        log.info(
            "batch_tokens %d: %d batches per epoch of %.1f examples on average (%d examples)",
            self.batch_tokens,
            len(sampler),
            sampler.mean_batch(),
            len(lengths),
        )
        dataset = self._remove_unused_columns(dataset, description="Training")
        workers = self.args.dataloader_num_workers
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=workers,
            pin_memory=self.args.dataloader_pin_memory,
            persistent_workers=self.args.dataloader_persistent_workers,
            prefetch_factor=self.args.dataloader_prefetch_factor,
            worker_init_fn=functools.partial(seed_worker, num_workers=workers, rank=self.args.process_index),
        )
        return self.accelerator.prepare(loader)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The mean loss over every answer token of the optimizer step: all its micro-batches (gradient
        accumulation) and all processes weigh each token alike, whatever their sizes.

        T5's forward takes **kwargs, so the Trainer believes it normalises by `num_items_in_batch` (and then
        neither divides by the accumulation steps nor undoes DDP's gradient averaging), but T5 returns the plain
        mean over its own batch: left alone, two processes would double the loss and gradient, and accumulation
        would multiply them by its steps. Here the batch mean becomes this batch's share of the step's token sum."""
        outputs = model(**inputs)
        loss = outputs["loss"]
        if num_items_in_batch is not None:  # training: the step's label tokens over all micro-batches (and processes)
            self.examples_seen += inputs["labels"].shape[0]
            tokens = (inputs["labels"] != -100).sum()
            loss = loss * tokens / num_items_in_batch
            if self.args.average_tokens_across_devices:  # num_items_in_batch counts every process: undo DDP's mean
                loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss

    def evaluate(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self.evaluation_seconds += time.perf_counter() - started

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training line: samples per second since the previous one, evaluations left out
            now, step = time.perf_counter(), self.state.global_step
            if self.last_log is not None and step > self.last_log[1]:
                seconds = now - self.last_log[0] - self.evaluation_seconds
                samples = self.examples_seen
                if self.args.world_size > 1:  # every process logs at the same step: the examples of all of them
                    seen = torch.tensor([samples], device=self.args.device)
                    samples = int(self.accelerator.reduce(seen, reduction="sum").item())
                logs["samples_per_second"] = round(samples / max(seconds, 1e-9), 2)
            self.last_log, self.evaluation_seconds, self.examples_seen = (now, step), 0.0, 0
        super().log(logs, start_time)

    def evaluation_loop(self, *args, **kwargs):
        # Seq2SeqTrainer.evaluate gathers with plain `gather`, which keeps the samples accelerate repeats to even out
        # the processes' last batches: they would be scored (and their loss averaged in) twice. gather_for_metrics
        # drops them.
        self.gather_function = self.accelerator.gather_for_metrics
        return super().evaluation_loop(*args, **kwargs)

    def _get_eval_sampler(self, eval_dataset):
        # In order: the evaluation set is sorted longest first already, and its golds are matched by position
        # (the Trainer would otherwise shuffle it by length too, as it does the training set). With several
        # processes, None: accelerate shards the batches in order and gathers them back in order.
        return torch.utils.data.SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    def _get_train_sampler(self, train_dataset=None):
        if self.args.train_sampling_strategy != "group_by_length":
            return super()._get_train_sampler(train_dataset)
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        # The Trainer has dropped the columns the model does not take ("length" among them) by now.
        if "length" in dataset.column_names:
            lengths = list(dataset["length"])
        else:
            lengths = [len(ids) for ids in dataset["input_ids"]]
        batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
        self.epoch_sampler = EpochSeededLengthGroupedSampler(batch, lengths, self.args.data_seed)
        return self.epoch_sampler

"""Fine-tune a T5 with `Seq2SeqTrainer`: resumable, signal-safe, same code for one or many processes.

Checkpoints go to a folder that is not a Snakemake output (Snakemake deletes a rule's outputs before
rerunning it), so a preempted or timed-out job resumes from the newest complete checkpoint. On SIGTERM
(Slurm's warning before a kill) the trainer saves a checkpoint at the end of the current step and exits
with status 143; a rerun continues from there.

A checkpoint is resumed only when it was made by the same run: every checkpoint carries a fingerprint of
the training settings, the starting model, the tokenized training data and the number of processes, and a
checkpoint whose fingerprint differs is set aside (logged, then deleted) so training starts fresh. A resumed
run ends with the same weights as an uninterrupted one: the data order of each epoch depends only on the seed
and the epoch number, and the Trainer restores optimizer, scheduler and RNG states.

Batches hold `batch_size` examples (length-grouped by default), or, with `batch_tokens`, as many length-bucketed
examples as fit that many padded input tokens (t5qa.batching: same batches for the same seed and epoch, whole
batches per process). Either way the loss of an optimizer step is the mean over every answer token of the step, all
its micro-batches and processes together (`QATrainer.compute_loss`): a batch of many short examples weighs by its
tokens, not as one batch. The gradient's scale therefore does not depend on the batch sizes, only its noise does:
a budget of B tokens trains like a fixed batch of about B / (mean padded input length) examples, and the learning
rate tuned for that batch size carries over (the log says what batch size the budget amounts to).

Every `eval_steps` steps, and at the last step, a fixed sample of the validation split is scored (loss, and EM/F1
of generated answers with the official scorer). The model of the best evaluation is kept in `best-<step>` beside
the checkpoints, and each checkpoint records which one that is, so a resumed run keeps its best-so-far; the final
model is the best evaluation's. The log history, TensorBoard events, a plot and a model card go beside the model.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import random
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow
import pyarrow.compute
import torch
from transformers import (
    DataCollatorForSeq2Seq,
    EvalPrediction,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    set_seed,
)
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import seed_worker

from t5qa import attention
from t5qa.batching import TokenBudgetBatchSampler
from t5qa.cli import first_line
from t5qa.errors import InputError
from t5qa.features import prediction_to_answer
from t5qa.manifest import sha256_of
from t5qa.model_card import render_model_card
from t5qa.plot_training import plot_training
from t5qa.predict import auto_max_new_tokens, load_model, read_tokenize_stats
from t5qa.progress import Ticker, on_terminal
from t5qa.scoring import aggregate, score_one
from t5qa.settings import TrainSettings

log = logging.getLogger("t5qa.train")
INTERRUPTED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a terminated job
MODEL_COLUMNS = ["input_ids", "attention_mask", "labels", "length"]
EVAL_COLUMNS = ["input_ids", "attention_mask", "labels"]
# The scores logged at each evaluation (as eval_<name>): the official script's, overall and by answerability.
EVAL_SCORES = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1")
RUN_MARKER = "t5qa_run.json"  # written into a checkpoint once every rank has saved its part
BEST_PREFIX = "best-"  # best-<step>: the model of the best evaluation so far, beside the checkpoints
TRAINING_LOG = "log_history.json"  # in the final model folder
# Settings that do not change what is computed: a checkpoint made with other values is still this run's.
# (Not gradient_checkpointing: it computes the same weights only up to float rounding, the order in which gradients
# add up changes.)
OPERATIONAL_SETTINGS = {"save_steps", "logging_steps"}


def use_bf16(precision: str) -> bool:
    """bf16 where the hardware has it; T5 overflows in fp16, so fp16 is never an option."""
    if precision == "fp32":
        return False
    available = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision == "bf16" and not available:
        raise InputError("train precision 'bf16' asked for, but no CUDA device with bf16 support is visible")
    return available


class StopOnSignal(TrainerCallback):
    """Turns SIGTERM into 'save a checkpoint and stop' at the next step boundary, on every rank at once.

    Created before the data and model are loaded, so a signal that arrives while they load is not lost.
    """

    def __init__(self):
        self.requested = False
        self.stopped = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        log.warning("SIGTERM received: saving a checkpoint at the end of this step, then exiting")
        self.requested = True

    def _any_rank_requested(self, args) -> bool:
        if args.world_size <= 1:
            return self.requested
        flag = torch.tensor([int(self.requested)], device=args.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def on_step_end(self, args, state, control, **kwargs):
        if self._any_rank_requested(args):
            log.warning("stopping at step %d: saving checkpoint-%d", state.global_step, state.global_step)
            control.should_save = True
            control.should_training_stop = True
            self.stopped = True
        return control


class ProgressLines(TrainerCallback):
    """Where no terminal shows tqdm's bar (a log file, a Slurm log): one readable line every so often."""

    def on_train_begin(self, args, state, control, **kwargs):
        self.ticker = Ticker(log, "train steps", state.max_steps, unit="steps")
        self.ticker.update(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.ticker.update(state.global_step, extra=f"epoch {state.epoch:.2f}")


class MarkCompleteCheckpoints(TrainerCallback):
    """After every rank has written its part of a checkpoint, the main process adds the run's fingerprint.

    The marker is what makes a checkpoint resumable: a folder without it was cut short (or predates this code).
    """

    def __init__(self, fingerprint: dict):
        self.fingerprint = fingerprint

    def on_save(self, args, state, control, **kwargs):
        if args.world_size > 1:
            torch.distributed.barrier()  # rng_state_<rank>.pth of every rank is on disk
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            marker = {"step": state.global_step, "best_step": state.best_global_step, "fingerprint": self.fingerprint}
            tmp = folder / f".{RUN_MARKER}.tmp"
            tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
            tmp.replace(folder / RUN_MARKER)
            # The newest complete checkpoint now names the current best: no older best model can be needed.
            prune_best_models(Path(args.output_dir), keep={state.best_global_step})
        if args.world_size > 1:
            torch.distributed.barrier()
        return control


class KeepBest(TrainerCallback):
    """After each evaluation: keep the model if it beats the best so far, and stop early after `patience`
    evaluations without one that does. Also evaluates the last step, which `eval_steps` need not divide.

    The best value and step live in the Trainer's state (best_metric, best_global_step), which every checkpoint
    saves and a resumed run restores; the model itself is saved to best-<step> beside the checkpoints.
    """

    def __init__(self, trainer: QATrainer, settings: TrainSettings):
        self.trainer = trainer
        self.key = f"eval_{settings.best_metric}"
        self.greater_is_better = settings.best_metric != "loss"
        self.eval_steps = settings.eval_steps
        self.patience = settings.patience
        self.stopped_early = False

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps and state.global_step % self.eval_steps:
            control.should_evaluate = True
        return control

    def is_better(self, value: float, best: float | None) -> bool:
        if math.isnan(value):
            return False
        if best is None:
            return True
        return value > best if self.greater_is_better else value < best

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        value = (metrics or {}).get(self.key)
        if value is not None and self.is_better(value, state.best_metric):
            state.best_metric, state.best_global_step = value, state.global_step
            save_best_model(self.trainer, state.global_step)
            return control
        waited = evaluations_since(state, state.best_global_step)
        if self.patience and waited >= self.patience and not control.should_training_stop:
            log.info(
                "stopping early at step %d: %d evaluations without a better %s than %s at step %s",
                state.global_step,
                waited,
                self.key,
                state.best_metric,
                state.best_global_step,
            )
            control.should_training_stop = True
            self.stopped_early = True
        return control


def evaluations_since(state, step: int | None) -> int:
    """Evaluations logged after `step` (all of them when there is no best yet); the log history is restored on
    resume, so early stopping counts across preemptions."""
    return sum(1 for entry in state.log_history if "eval_loss" in entry and (step is None or entry["step"] > step))


def save_best_model(trainer: QATrainer, step: int) -> None:
    """The current model to best-<step>, whole or not at all; every rank takes part (as in save_model)."""
    checkpoint_dir = Path(trainer.args.output_dir)
    staging = checkpoint_dir / f".{BEST_PREFIX}{step}.partial"
    if trainer.is_world_process_zero():
        shutil.rmtree(staging, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))
    if trainer.is_world_process_zero():
        target = checkpoint_dir / f"{BEST_PREFIX}{step}"
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        # Keep the best model the newest checkpoint names too: a run resumed from it needs that one.
        newest = newest_checkpoint(checkpoint_dir)
        prune_best_models(checkpoint_dir, keep={step, checkpoint_best_step(newest) if newest else None})
    trainer.accelerator.wait_for_everyone()


def prune_best_models(checkpoint_dir: Path, keep: set[int | None]) -> None:
    for path in checkpoint_dir.glob(f"{BEST_PREFIX}*"):
        step = path.name.removeprefix(BEST_PREFIX)
        if not (step.isdigit() and int(step) in keep):
            shutil.rmtree(path, ignore_errors=True)


class TensorBoardEvents(TrainerCallback):
    """Every logged value as a TensorBoard scalar (train/loss, eval/f1, ...), written offline as training goes.

    A resumed run purges the events a killed attempt wrote after the checkpoint it resumes from, so the curves
    show each step once.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.writer = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(
                str(self.log_dir), purge_step=state.global_step + 1 if state.global_step else None
            )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.writer is None:
            return
        for key, value in (logs or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                tag = f"eval/{key.removeprefix('eval_')}" if key.startswith("eval_") else f"train/{key}"
                self.writer.add_scalar(tag, value, state.global_step)
        self.writer.flush()

    def on_train_end(self, args, state, control, **kwargs):
        if self.writer is not None:
            self.writer.close()


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


class SetSamplerEpoch(TrainerCallback):
    """Tells the sampler which epoch begins. accelerate forwards set_epoch through its sampler wrappers, but not
    through all of them (two processes resuming mid-epoch nest one wrapper deeper than it looks), so do it here.
    At an epoch's start `state.epoch` is that epoch's number; in a resumed run it is the fraction reached, whose
    whole part is the epoch being resumed."""

    def __init__(self, trainer: QATrainer):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        sampler = getattr(self.trainer, "epoch_sampler", None)
        if sampler is not None:
            sampler.set_epoch(int(round(state.epoch, 6)))
        return control


def load_splits(tokenized_dir: Path) -> datasets.DatasetDict:
    what = f"{tokenized_dir}: not a tokenized dataset folder (save_to_disk)"
    try:
        splits = datasets.load_from_disk(str(tokenized_dir))
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, pyarrow.ArrowException) as err:
        raise InputError(f"{what} ({first_line(err)})") from err
    if not isinstance(splits, datasets.DatasetDict) or "train" not in splits:
        raise InputError(f"{what} with a train split")
    return splits


def require_columns(splits: datasets.DatasetDict, split: str, columns: list[str], tokenized_dir: Path) -> None:
    if split not in splits:
        raise InputError(f"{tokenized_dir}: no {split} split")
    missing = set(columns) - set(splits[split].column_names)
    if missing:
        raise InputError(
            f"{tokenized_dir}: its {split} split lacks the columns {sorted(missing)} (made by an older tokenize step?)"
        )
    if len(splits[split]) == 0:
        raise InputError(f"{tokenized_dir}: the {split} split has no rows")


def load_train_split(splits: datasets.DatasetDict, tokenized_dir: Path) -> datasets.Dataset:
    require_columns(splits, "train", MODEL_COLUMNS, tokenized_dir)
    return splits["train"].select_columns(MODEL_COLUMNS)


@dataclass
class EvalSet:
    """The validation questions scored during training, longest first (less padding in each generate() batch),
    with every gold answer of each in the same order."""

    examples: datasets.Dataset
    golds: list[list[str]]


def load_eval_set(splits: datasets.DatasetDict, tokenized_dir: Path, size: int, seed: int) -> EvalSet:
    """A fixed sample of `size` validation questions, drawn with the training seed: every evaluation of a run,
    and of a resumed run, scores the same questions. A question split into windows is scored on its primary
    window (the one holding the answer): a quick view of learning; the predict step weighs all windows."""
    require_columns(splits, "validation", [*EVAL_COLUMNS, "answers", "primary"], tokenized_dir)
    validation = splits["validation"]
    if not all(validation["primary"]):
        validation = validation.filter(lambda primary: primary, input_columns="primary", keep_in_memory=True)
    chosen = range(len(validation))
    if len(validation) > size:
        chosen = sorted(random.Random(seed).sample(chosen, size))
    sample = validation.select(chosen)
    lengths = [len(ids) for ids in sample["input_ids"]]
    longest_first = sorted(range(len(sample)), key=lambda i: (-lengths[i], i))
    sample = sample.select(longest_first)
    return EvalSet(sample.select_columns(EVAL_COLUMNS), list(sample["answers"]))


def make_scorer(tokenizer, golds: list[list[str]], unanswerable: str) -> Callable[[EvalPrediction], dict]:
    """compute_metrics for the Trainer: generated answers scored like the metrics step scores them."""

    def score(prediction: EvalPrediction) -> dict[str, float]:
        generated = np.asarray(prediction.predictions)
        generated = np.where(generated < 0, tokenizer.pad_token_id, generated)  # -100: padding between processes
        texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
        if len(texts) != len(golds):
            raise RuntimeError(f"scored {len(texts)} generated answers for {len(golds)} validation questions")
        answers = [prediction_to_answer(text, unanswerable) for text in texts]
        totals = aggregate([score_one(g, a) for g, a in zip(golds, answers)], [bool(g) for g in golds])
        return {name: totals[name] for name in EVAL_SCORES if name in totals}

    return score


def run_fingerprint(settings: TrainSettings, model_source: str, tokenized_dir: Path, world_size: int) -> dict:
    """What makes two training runs the same run: a checkpoint of another run must not be resumed."""
    return {
        "settings": {k: v for k, v in sorted(settings.as_dict().items()) if k not in OPERATIONAL_SETTINGS},
        "model": model_identity(model_source),
        # The Arrow files only: state.json carries a fingerprint that differs between identical tokenize runs.
        "train_data": [sha256_of(f) for f in sorted((Path(tokenized_dir) / "train").glob("*.arrow"))],
        "processes": world_size,
        # precision "auto" resolves per node: a retry on a node without bf16 must not continue a bf16 run in fp32.
        "bf16": use_bf16(settings.precision),
        # What the accelerate config made of the run (DDP or FSDP, its sharding, mixed precision), as `accelerate
        # launch` passes it on: a checkpoint of a DDP run is not resumed under FSDP, nor the reverse.
        "launch": launch_settings(),
    }


def launch_settings(env: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if env is None else env
    return {
        key: value
        for key, value in sorted(env.items())
        if key.startswith(("ACCELERATE_", "FSDP_")) and key not in ("ACCELERATE_LOG_LEVEL", "ACCELERATE_DEBUG_MODE")
    }


def model_identity(model_source: str) -> dict:
    """A local folder: its path, and each file's size and a hash of its first and last MiB (hashing all the
    weights of a large model would take minutes; a re-initialised or retrained model differs in both ends).
    A hub id: its name and the cached snapshot's commit, when it is cached."""
    path = Path(model_source)
    if not path.is_dir():
        return {"name": model_source, "snapshot": cached_snapshot(model_source)}
    return {
        "path": str(path.resolve()),
        "files": {p.name: file_sample(p) for p in sorted(path.iterdir()) if p.is_file()},
    }


def file_sample(path: Path, window: int = 1 << 20) -> str:
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as stream:
        digest.update(stream.read(window))
        if size > 2 * window:
            stream.seek(size - window)
        digest.update(stream.read(window))
    return digest.hexdigest()


def cached_snapshot(repo_id: str) -> str | None:
    """The commit of the locally cached snapshot of a hub model (prefetched on the login node)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True)).name
    except Exception:  # not cached, or not a hub id at all: the name alone then
        return None


def is_complete_checkpoint(path: Path) -> bool:
    """Complete = every rank saved and the main process then wrote the run marker (last)."""
    has_weights = any((path / name).is_file() for name in ("model.safetensors", "pytorch_model.bin"))
    return has_weights and (path / "trainer_state.json").is_file() and (path / RUN_MARKER).is_file()


def newest_checkpoint(checkpoint_dir: Path) -> Path | None:
    candidates = []
    for path in checkpoint_dir.glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and is_complete_checkpoint(path):
            candidates.append((int(step), path))
    return max(candidates)[1] if candidates else None


def fingerprint_differences(saved: dict, current: dict) -> list[str]:
    """Readable names of what differs: settings keys one by one, then model / data / processes."""
    differences = []
    saved_settings, settings = saved.get("settings", {}), current["settings"]
    for key in sorted(saved_settings.keys() | settings.keys()):
        if saved_settings.get(key) != settings.get(key):
            differences.append(f"{key} {saved_settings.get(key)!r} -> {settings.get(key)!r}")
    for key in ("model", "train_data", "processes", "bf16"):
        if saved.get(key) != current[key]:
            differences.append(key)
    if saved.get("launch", {}) != current["launch"]:
        differences.append("accelerate launch settings")
    return differences


def clear_checkpoint_dir(checkpoint_dir: Path, keep: list[Path]) -> None:
    """Delete everything but what a resumed run needs. An unmarked leftover checkpoint would otherwise count
    towards the Trainer's save_total_limit, which rotates by age, and push out the last complete one; the best
    models and TensorBoard events of a discarded run must not mix with this run's."""
    for path in checkpoint_dir.iterdir() if checkpoint_dir.is_dir() else []:
        if path not in keep:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def resumable_checkpoint(checkpoint_dir: Path, fingerprint: dict) -> tuple[Path | None, str]:
    """The newest complete checkpoint if this run made it; else None and why (for the log)."""
    newest = newest_checkpoint(checkpoint_dir)
    if newest is None:
        leftovers = sorted(p.name for p in checkpoint_dir.glob("checkpoint-*"))
        return None, f"incomplete checkpoints only ({', '.join(leftovers)})" if leftovers else ""
    try:
        saved = json.loads((newest / RUN_MARKER).read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, f"{newest.name} has an unreadable {RUN_MARKER}"
    differences = fingerprint_differences(saved, fingerprint)
    if differences:
        return None, f"{newest.name} was made by a different run ({'; '.join(differences)})"
    best = checkpoint_best_step(newest)
    if best is not None and not (checkpoint_dir / f"{BEST_PREFIX}{best}").is_dir():
        return None, f"{newest.name} names {BEST_PREFIX}{best} as its best model, which is missing"
    return newest, ""


def checkpoint_best_step(checkpoint: Path) -> int | None:
    """The step of the best evaluation when the checkpoint was saved (None: no evaluation yet)."""
    try:
        step = json.loads((checkpoint / RUN_MARKER).read_text())["best_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return step if type(step) is int else None


def training_arguments(
    settings: TrainSettings, checkpoint_dir: Path, generation_max_length: int, dataloader_workers: int = 0
) -> Seq2SeqTrainingArguments:
    bf16 = use_bf16(settings.precision)
    cuda = torch.cuda.is_available()
    # Worker processes keep a GPU fed. On CPU the cores are better spent on the math, and a worker count that
    # follows the job's threads would change the data order (the DataLoader draws a seed from the global RNG
    # per epoch when it has workers), so CPU results would depend on --cores.
    workers = dataloader_workers if cuda else 0
    return Seq2SeqTrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_ratio,  # a float below 1 is a fraction of all steps
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        bf16=bf16,
        tf32=True if cuda and bf16 else None,
        use_cpu=not cuda,
        seed=settings.seed,
        data_seed=settings.seed,
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        length_column_name="length",
        dataloader_num_workers=workers,
        dataloader_persistent_workers=workers > 0,  # not re-forked every epoch
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=2,
        logging_steps=settings.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if settings.eval_steps else "no",
        eval_steps=settings.eval_steps or None,
        per_device_eval_batch_size=settings.batch_size,
        predict_with_generate=True,  # EM/F1 of generated answers, greedy, as long as prediction's
        generation_max_length=generation_max_length,
        generation_num_beams=1,
        report_to="none",  # TensorBoardEvents writes the events (it handles resumed runs)
        disable_tqdm=not on_terminal(),  # in a log file: ProgressLines and the Trainer's printed logs instead
        ddp_find_unused_parameters=False,
        torch_compile=settings.torch_compile,
        # Recompute each layer's activations in the backward pass (non-reentrant checkpointing, safe under DDP).
        activation_checkpointing=settings.gradient_checkpointing,
    )


def train(
    settings: TrainSettings,
    tokenized_dir: Path,
    tokenize_stats: Path,
    model_source: str,
    output_dir: Path,
    checkpoint_dir: Path,
    dataloader_workers: int = 0,
    manifest: Callable[[], dict] | None = None,
) -> bool:
    """Train and save the best evaluation's model (the last step's without evaluations) to `output_dir`, with its
    log history, TensorBoard events, curves and model card. Returns False when stopped by a signal.

    `manifest()`, when given, is written as run_manifest.json beside the model before the folder is renamed into
    place, so the output appears complete or not at all.
    """
    stopper = StopOnSignal()  # first: a SIGTERM while loading must not be lost
    datasets.disable_caching()  # never write cache files into the upstream tokenized folder
    set_seed(settings.seed)
    tokenize_settings, longest_target = read_tokenize_stats(tokenize_stats)
    splits = load_splits(tokenized_dir)
    train_set = load_train_split(splits, tokenized_dir)
    eval_set = (
        load_eval_set(splits, tokenized_dir, settings.eval_examples, settings.seed) if settings.eval_steps else None
    )
    tokenizer, model = load_model(model_source)
    if attention.merged_bias_allowed(settings):
        attention.use_merged_bias(model)
    collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100, pad_to_multiple_of=8)
    # generate()'s max_length counts the decoder's start token: one more than prediction's max_new_tokens.
    generation_max_length = auto_max_new_tokens(longest_target, tokenize_settings.max_target_length) + 1
    args = training_arguments(settings, checkpoint_dir, generation_max_length, dataloader_workers)
    fingerprint = run_fingerprint(settings, model_source, tokenized_dir, args.world_size)
    events = checkpoint_dir / "runs"
    trainer = QATrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set.examples if eval_set else None,
        compute_metrics=make_scorer(tokenizer, eval_set.golds, tokenize_settings.unanswerable_target)
        if eval_set
        else None,
        data_collator=collator,
        processing_class=tokenizer,
        batch_tokens=settings.batch_tokens,
        pad_multiple=collator.pad_to_multiple_of,
        callbacks=[
            stopper,
            MarkCompleteCheckpoints(fingerprint),
            TensorBoardEvents(events),
            *([] if on_terminal() else [ProgressLines()]),
        ],
    )
    trainer.add_callback(SetSamplerEpoch(trainer))
    keep_best = KeepBest(trainer, settings)
    if eval_set:
        trainer.add_callback(keep_best)
    resume, why_not = resumable_checkpoint(checkpoint_dir, fingerprint)
    trainer.accelerator.wait_for_everyone()  # every rank has decided before the main one clears anything
    if resume:
        log.info("resuming from %s", resume)
    elif why_not:
        log.warning("not resuming: %s in %s; training from the start", why_not, checkpoint_dir)
    if trainer.is_world_process_zero():
        best = checkpoint_best_step(resume) if resume else None
        keep = [resume, events, checkpoint_dir / f"{BEST_PREFIX}{best}"] if resume else []
        clear_checkpoint_dir(checkpoint_dir, keep)
    trainer.accelerator.wait_for_everyone()  # no rank reads the folder while the main one clears it
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if stopper.stopped:
        return False

    state = trainer.state
    staging = output_dir.with_name(output_dir.name + ".partial")
    if trainer.is_world_process_zero() and staging.exists():
        shutil.rmtree(staging)
    trainer.accelerator.wait_for_everyone()
    best_model = checkpoint_dir / f"{BEST_PREFIX}{state.best_global_step}"
    if state.best_global_step is None:
        if eval_set:
            log.warning("no evaluation gave a usable %s: keeping the last step's model", settings.best_metric)
        trainer.save_model(str(staging))  # every rank calls it; the main one writes
    elif trainer.is_world_process_zero():
        log.info(
            "keeping the model of step %d (%s %s)", state.best_global_step, settings.best_metric, state.best_metric
        )
        shutil.copytree(best_model, staging)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(staging))
        training_log = {
            "best": None
            if state.best_global_step is None
            else {"metric": settings.best_metric, "value": state.best_metric, "step": state.best_global_step},
            "final_step": state.global_step,
            "stopped_early": keep_best.stopped_early,
            "eval_examples": len(eval_set.golds) if eval_set else 0,
            "log_history": state.log_history,
        }
        write_model_extras(staging, training_log, settings, tokenize_stats, model_source, output_dir, events)
        (staging / "train_metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
        if manifest:
            (staging / "run_manifest.json").write_text(json.dumps(manifest(), indent=2) + "\n")
        if output_dir.exists():
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return True


def write_model_extras(
    folder: Path,
    training_log: dict,
    settings: TrainSettings,
    tokenize_stats: Path,
    model_source: str,
    output_dir: Path,
    events: Path,
) -> None:
    """What outlives the run beside the weights: the log history, TensorBoard events, curves and a model card."""
    (folder / TRAINING_LOG).write_text(json.dumps(training_log, indent=2) + "\n")
    if events.is_dir():
        shutil.copytree(events, folder / "runs")
    plot_training(training_log, folder / "training_curves.png", title=output_dir.name)
    stats = json.loads(tokenize_stats.read_text(encoding="utf-8"))
    card = render_model_card(output_dir.name, model_source, stats, settings.as_dict(), training_log, str(output_dir))
    (folder / "README.md").write_text(card, encoding="utf-8")

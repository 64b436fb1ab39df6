"""Fine-tune a T5 with `Seq2SeqTrainer`: resumable, signal-safe, same code for one or many processes.

On SIGTERM (Slurm's warning before a kill) the trainer saves a checkpoint at the end of the current step and exits
with status 143 (on Ctrl-C alike, status 130); a rerun continues from the newest complete checkpoint of the same run
(t5qa.model.checkpoints). A resumed run ends with the same weights as an uninterrupted one: the data order of each epoch
depends only on the seed and the epoch number, and the Trainer restores optimizer, scheduler and RNG states.

Batches hold `batch_size` examples (length-grouped by default), or, with `batch_tokens`, as many length-bucketed
examples as fit that many padded input tokens (t5qa.data.batching: same batches for the same seed and epoch, whole
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
import importlib.util
import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import datasets
import pyarrow
import pyarrow.compute
import torch
from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import seed_worker

from t5qa.data.batching import TokenBudgetBatchSampler
from t5qa.data.tokenize_stats import STATS_IN_MODEL, load_tokenize_stats, read_tokenize_stats
from t5qa.errors import InputError
from t5qa.model import attempts, attention
from t5qa.model.callbacks import (
    BarOnly,
    KeepBest,
    LogLines,
    MarkCompleteCheckpoints,
    ProgressLines,
    SetSamplerEpoch,
    StopOnSignal,
    TensorBoardEvents,
)
from t5qa.model.checkpoints import (
    BEST_PREFIX,
    checkpoint_best_step,
    clear_checkpoint_dir,
    resumable_checkpoint,
    run_fingerprint,
)
from t5qa.model.model_card import render_model_card
from t5qa.model.model_io import auto_max_new_tokens, honour_umask, load_model, use_bf16
from t5qa.model.plot_training import plot_training
from t5qa.model.training_data import load_eval_set, load_splits, load_train_split, make_scorer
from t5qa.progress import on_terminal
from t5qa.settings import TrainSettings

log = logging.getLogger("t5qa.model.train")
TRAINING_LOG = "log_history.json"  # in the final model folder


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


def training_arguments(
    settings: TrainSettings, checkpoint_dir: Path, generation_max_length: int, dataloader_workers: int = 0
) -> Seq2SeqTrainingArguments:
    require_trackers(settings.report_to)
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
        # TensorBoard through TensorBoardEvents (it handles resumed runs); the others through their integrations.
        report_to=[name for name in settings.report_to if name != "tensorboard"] or "none",
        disable_tqdm=not on_terminal(),  # in a log file: ProgressLines and the Trainer's printed logs instead
        ddp_find_unused_parameters=False,
        torch_compile=settings.torch_compile,
        # Recompute each layer's activations in the backward pass (non-reentrant checkpointing, safe under DDP).
        activation_checkpointing=settings.gradient_checkpointing,
    )


TRACKER_PACKAGES = {"wandb": "wandb", "mlflow": "mlflow"}


def require_trackers(report_to: list[str]) -> None:
    """A tracker whose package is missing is one line before training, not a traceback after loading."""
    for name in report_to:
        package = TRACKER_PACKAGES.get(name)
        if package and importlib.util.find_spec(package) is None:
            raise InputError(
                f"train.report_to: {name} needs the {package} package (pip install {package} in this environment), "
                "or leave it out of report_to"
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
) -> int:
    """Train and save the best evaluation's model (the last step's without evaluations) to `output_dir`, with its
    log history, TensorBoard events, curves and model card. Returns the exit status: 0 when finished, 143 when
    stopped by SIGTERM, 130 by Ctrl-C (after saving a checkpoint).

    `manifest()`, when given, is written as run_manifest.json beside the model before the folder is renamed into
    place, so the output appears complete or not at all.
    """
    stopper = StopOnSignal()  # first: a SIGTERM or Ctrl-C while loading must not be lost
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
            *([TensorBoardEvents(events)] if "tensorboard" in settings.report_to else []),
            *([] if on_terminal() else [ProgressLines()]),
        ],
    )
    trainer.add_callback(SetSamplerEpoch(trainer))
    # One readable line per logged entry (LogLines) instead of the Trainer's printed dicts.
    trainer.remove_callback(PrinterCallback)
    if trainer.pop_callback(ProgressCallback):
        trainer.add_callback(BarOnly)
    trainer.add_callback(LogLines)
    keep_best = KeepBest(trainer, settings)
    if eval_set:
        trainer.add_callback(keep_best)
    resume, why_not = resumable_checkpoint(checkpoint_dir, fingerprint)
    trainer.accelerator.wait_for_everyone()  # every rank has decided before the main one clears anything
    if resume:
        attempts.log.info("resuming from %s", resume)
    elif why_not:
        attempts.log.warning("not resuming: %s in %s; training from the start", why_not, checkpoint_dir)
    if trainer.is_world_process_zero():
        best = checkpoint_best_step(resume) if resume else None
        keep = [resume, events, checkpoint_dir / f"{BEST_PREFIX}{best}"] if resume else []
        clear_checkpoint_dir(checkpoint_dir, keep)
    trainer.accelerator.wait_for_everyone()  # no rank reads the folder while the main one clears it
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if stopper.stopped:
        return stopper.exit_code

    state = trainer.state
    staging = output_dir.with_name(f".{output_dir.name}.partial")  # hidden, like every output's temporary
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
        honour_umask(staging)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return 0


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
    shutil.copyfile(tokenize_stats, folder / STATS_IN_MODEL)  # how to ask the model (t5qa ask): template, windows
    if events.is_dir():
        shutil.copytree(events, folder / "runs")
    plot_training(training_log, folder / "training_curves.png", title=output_dir.name)
    stats = load_tokenize_stats(tokenize_stats)
    card = render_model_card(output_dir.name, model_source, stats, settings.as_dict(), training_log, str(output_dir))
    (folder / "README.md").write_text(card, encoding="utf-8")

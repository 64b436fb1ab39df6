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

import importlib.util
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import datasets
import torch
from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback

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
from t5qa.model.trainer import QATrainer
from t5qa.model.training_data import load_eval_set, load_splits, load_train_split, make_scorer
from t5qa.progress import on_terminal
from t5qa.settings import TrainSettings

log = logging.getLogger("t5qa.model.train")
TRAINING_LOG = "log_history.json"  # in the final model folder


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

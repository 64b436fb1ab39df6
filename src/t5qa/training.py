"""Fine-tune a T5 with `Seq2SeqTrainer`: resumable, signal-safe, same code for one or many processes.

Checkpoints go to a folder that is not a Snakemake output (Snakemake deletes a rule's outputs before
rerunning it), so a preempted or timed-out job resumes from the newest complete checkpoint. On SIGTERM
(Slurm's warning before a kill) the trainer saves a checkpoint at the end of the current step and exits
with status 143; a rerun continues from there.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import datasets
import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    set_seed,
)

log = logging.getLogger("t5qa.train")
INTERRUPTED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a terminated job
MODEL_COLUMNS = ["input_ids", "attention_mask", "labels", "length"]


def use_bf16(precision: str) -> bool:
    """bf16 where the hardware has it; T5 overflows in fp16, so fp16 is never an option."""
    if precision == "fp32":
        return False
    available = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision == "bf16" and not available:
        raise RuntimeError("precision 'bf16' asked for, but no CUDA device with bf16 support is visible")
    return available


class StopOnSignal(TrainerCallback):
    """Turns SIGTERM into 'save a checkpoint and stop' at the next step boundary, on every rank at once."""

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
            control.should_save = True
            control.should_training_stop = True
            self.stopped = True
        return control


def is_complete_checkpoint(path: Path) -> bool:
    """The Trainer writes trainer_state.json last; a folder without it (or weights) was cut short."""
    has_weights = any((path / name).is_file() for name in ("model.safetensors", "pytorch_model.bin"))
    return has_weights and (path / "trainer_state.json").is_file() and (path / "optimizer.pt").is_file()


def newest_checkpoint(checkpoint_dir: Path) -> Path | None:
    candidates = []
    for path in checkpoint_dir.glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and is_complete_checkpoint(path):
            candidates.append((int(step), path))
    return max(candidates)[1] if candidates else None


def training_arguments(settings: dict, checkpoint_dir: Path) -> Seq2SeqTrainingArguments:
    bf16 = use_bf16(settings.get("precision", "auto"))
    cuda = torch.cuda.is_available()
    # Worker processes keep a GPU fed. On CPU the cores are better spent on the math, and a worker count that
    # follows the job's threads would change the data order (the DataLoader draws a seed from the global RNG
    # per epoch when it has workers), so CPU results would depend on --cores.
    workers = settings.get("dataloader_workers", 0) if cuda else 0
    return Seq2SeqTrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=settings["batch_size"],
        gradient_accumulation_steps=settings.get("gradient_accumulation_steps", 1),
        learning_rate=settings["learning_rate"],
        weight_decay=settings.get("weight_decay", 0.0),
        num_train_epochs=settings["epochs"],
        max_steps=settings.get("max_steps", -1),
        lr_scheduler_type=settings.get("lr_scheduler", "linear"),
        warmup_steps=settings.get("warmup_ratio", 0.0),  # a float below 1 is a fraction of all steps
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        bf16=bf16,
        tf32=True if cuda and bf16 else None,
        use_cpu=not cuda,
        seed=settings["seed"],
        data_seed=settings["seed"],
        train_sampling_strategy="group_by_length" if settings.get("group_by_length", True) else "random",
        length_column_name="length",
        dataloader_num_workers=workers,
        dataloader_persistent_workers=workers > 0,  # not re-forked every epoch
        save_strategy="steps",
        save_steps=settings["save_steps"],
        save_total_limit=2,
        logging_steps=settings.get("logging_steps", 50),
        logging_first_step=True,
        eval_strategy="no",
        report_to="none",
        disable_tqdm=False,
        ddp_find_unused_parameters=False,
        torch_compile=settings.get("torch_compile", False),
    )


def train(
    settings: dict,
    tokenized_dir: Path,
    model_source: str,
    output_dir: Path,
    checkpoint_dir: Path,
    manifest: Callable[[], dict] | None = None,
) -> bool:
    """Train and save the final model to `output_dir`. Returns False when stopped by a signal.

    `manifest()`, when given, is written as run_manifest.json beside the model before the folder is renamed into
    place, so the output appears complete or not at all.
    """
    datasets.disable_caching()  # never write cache files into the upstream tokenized folder
    set_seed(settings["seed"])
    train_set = datasets.load_from_disk(str(tokenized_dir))["train"].select_columns(MODEL_COLUMNS)
    tokenizer = AutoTokenizer.from_pretrained(model_source)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_source)
    collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100, pad_to_multiple_of=8)
    stopper = StopOnSignal()
    args = training_arguments(settings, checkpoint_dir)
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[stopper],
    )
    resume = newest_checkpoint(checkpoint_dir)
    if resume:
        log.info("resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if stopper.stopped:
        return False
    staging = output_dir.with_name(output_dir.name + ".partial")
    if trainer.is_world_process_zero() and staging.exists():
        shutil.rmtree(staging)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))  # every rank calls it; the main one writes
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(staging))
        (staging / "train_metrics.json").write_text(json.dumps(result.metrics, indent=2) + "\n")
        if manifest:
            (staging / "run_manifest.json").write_text(json.dumps(manifest(), indent=2) + "\n")
        if output_dir.exists():
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return True

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
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import datasets
import pyarrow
import torch
from transformers import (
    DataCollatorForSeq2Seq,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    set_seed,
)
from transformers.trainer_pt_utils import LengthGroupedSampler

from t5qa.cli import first_line
from t5qa.errors import InputError
from t5qa.manifest import sha256_of
from t5qa.predict import load_model
from t5qa.progress import Ticker, on_terminal
from t5qa.settings import TrainSettings

log = logging.getLogger("t5qa.train")
INTERRUPTED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a terminated job
MODEL_COLUMNS = ["input_ids", "attention_mask", "labels", "length"]
RUN_MARKER = "t5qa_run.json"  # written into a checkpoint once every rank has saved its part
# Settings that do not change what is computed: a checkpoint made with other values is still this run's.
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
            marker = {"step": state.global_step, "fingerprint": self.fingerprint}
            tmp = folder / f".{RUN_MARKER}.tmp"
            tmp.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
            tmp.replace(folder / RUN_MARKER)
        if args.world_size > 1:
            torch.distributed.barrier()
        return control


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


def load_train_split(tokenized_dir: Path) -> datasets.Dataset:
    what = f"{tokenized_dir}: not a tokenized dataset folder (save_to_disk)"
    try:
        splits = datasets.load_from_disk(str(tokenized_dir))
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, pyarrow.ArrowException) as err:
        raise InputError(f"{what} ({first_line(err)})") from err
    if not isinstance(splits, datasets.DatasetDict) or "train" not in splits:
        raise InputError(f"{what} with a train split")
    missing = set(MODEL_COLUMNS) - set(splits["train"].column_names)
    if missing:
        raise InputError(f"{what}: its train split lacks the columns {sorted(missing)}")
    if len(splits["train"]) == 0:
        raise InputError(f"{tokenized_dir}: the train split has no rows")
    return splits["train"].select_columns(MODEL_COLUMNS)


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
    for key in ("model", "train_data", "processes"):
        if saved.get(key) != current[key]:
            differences.append(key)
    return differences


def clear_other_checkpoints(checkpoint_dir: Path, keep: Path | None) -> None:
    """Delete every checkpoint but the one resumed from. An unmarked leftover would otherwise count towards the
    Trainer's save_total_limit, which rotates by age, and push out the last complete checkpoint."""
    for path in checkpoint_dir.glob("checkpoint-*"):
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)


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
    return newest, ""


def training_arguments(
    settings: TrainSettings, checkpoint_dir: Path, dataloader_workers: int = 0
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
        eval_strategy="no",
        report_to="none",
        disable_tqdm=not on_terminal(),  # in a log file: ProgressLines and the Trainer's printed logs instead
        ddp_find_unused_parameters=False,
        torch_compile=settings.torch_compile,
    )


def train(
    settings: TrainSettings,
    tokenized_dir: Path,
    model_source: str,
    output_dir: Path,
    checkpoint_dir: Path,
    dataloader_workers: int = 0,
    manifest: Callable[[], dict] | None = None,
) -> bool:
    """Train and save the final model to `output_dir`. Returns False when stopped by a signal.

    `manifest()`, when given, is written as run_manifest.json beside the model before the folder is renamed into
    place, so the output appears complete or not at all.
    """
    stopper = StopOnSignal()  # first: a SIGTERM while loading must not be lost
    datasets.disable_caching()  # never write cache files into the upstream tokenized folder
    set_seed(settings.seed)
    train_set = load_train_split(tokenized_dir)
    tokenizer, model = load_model(model_source)
    collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100, pad_to_multiple_of=8)
    args = training_arguments(settings, checkpoint_dir, dataloader_workers)
    fingerprint = run_fingerprint(settings, model_source, tokenized_dir, args.world_size)
    trainer = QATrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[stopper, MarkCompleteCheckpoints(fingerprint), *([] if on_terminal() else [ProgressLines()])],
    )
    trainer.add_callback(SetSamplerEpoch(trainer))
    resume, why_not = resumable_checkpoint(checkpoint_dir, fingerprint)
    trainer.accelerator.wait_for_everyone()  # every rank has decided before the main one clears anything
    if resume:
        log.info("resuming from %s", resume)
    elif why_not:
        log.warning("not resuming: %s in %s; training from the start", why_not, checkpoint_dir)
    if trainer.is_world_process_zero():
        clear_other_checkpoints(checkpoint_dir, keep=resume)
    trainer.accelerator.wait_for_everyone()  # no rank reads the folder while the main one clears it
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

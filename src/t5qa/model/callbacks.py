"""The trainer's callbacks: stop on a signal with a checkpoint, progress lines in a log file, the checkpoint marker,
the best model and early stopping, TensorBoard events, and the sampler's epoch."""

from __future__ import annotations

import logging
import math
import os
import signal
from pathlib import Path

import torch
from transformers import Seq2SeqTrainer, TrainerCallback
from transformers.trainer_callback import ProgressCallback

from t5qa.model import attempts
from t5qa.model.checkpoints import prune_best_models, save_best_model, write_marker
from t5qa.progress import Ticker
from t5qa.settings import TrainSettings

log = logging.getLogger("t5qa.model.train")


class StopOnSignal(TrainerCallback):
    """Turns SIGTERM (Slurm's warning before a kill) and SIGINT (Ctrl-C) into 'save a checkpoint and stop' at the
    next step boundary, on every rank at once. A second Ctrl-C stops at once, without saving.

    Created before the data and model are loaded, so a signal that arrives while they load is not lost.
    """

    def __init__(self):
        self.requested = False
        self.stopped = False
        self.signal_number = signal.SIGTERM
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process ended by the signal: 143 for SIGTERM, 130 for SIGINT."""
        return 128 + self.signal_number

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.requested:
            log.warning("second Ctrl-C: stopping now, without a checkpoint")
            os._exit(128 + signum)
        name = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else "SIGTERM"
        hint = " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else ""
        attempts.signal_received(signum)
        log.warning("%s received: saving a checkpoint at the end of this step, then exiting%s", name, hint)
        self.requested = True
        self.signal_number = signum

    def _any_rank_requested(self, args) -> bool:
        if args.world_size <= 1:
            return self.requested
        flag = torch.tensor([int(self.requested)], device=args.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return bool(flag.item())

    def on_step_end(self, args, state, control, **kwargs):
        if self._any_rank_requested(args):
            attempts.log.warning("stopping at step %d: saving checkpoint-%d", state.global_step, state.global_step)
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
            write_marker(folder, state.global_step, state.best_global_step, self.fingerprint)
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

    def __init__(self, trainer: Seq2SeqTrainer, settings: TrainSettings):
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


class SetSamplerEpoch(TrainerCallback):
    """Tells the sampler which epoch begins. accelerate forwards set_epoch through its sampler wrappers, but not
    through all of them (two processes resuming mid-epoch nest one wrapper deeper than it looks), so do it here.
    At an epoch's start `state.epoch` is that epoch's number; in a resumed run it is the fraction reached, whose
    whole part is the epoch being resumed."""

    def __init__(self, trainer: Seq2SeqTrainer):
        self.trainer = trainer

    def on_epoch_begin(self, args, state, control, **kwargs):
        sampler = getattr(self.trainer, "epoch_sampler", None)
        if sampler is not None:
            sampler.set_epoch(int(round(state.epoch, 6)))
        return control


class LogLines(TrainerCallback):
    """Each logged entry as one line that a person and grep read, in place of the Trainer's printed dicts:
    train step=40/120 epoch=1.00 loss=2.346 grad_norm=1.02 learning_rate=0.003 samples_per_second=52.1
    eval step=40/120 epoch=1.00 loss=2.118 exact=12.5 f1=20.31 ...
    """

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        values = {key: value for key, value in logs.items() if key not in ("total_flos", "epoch", "step")}
        kind = "eval" if any(key.startswith("eval_") for key in values) else "train"
        if "train_runtime" in values:
            kind = "summary"
        words = [kind, f"step={state.global_step}/{state.max_steps}", f"epoch={state.epoch or 0:.2f}"]
        for key, value in values.items():
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            words.append(f"{key.removeprefix('eval_')}={shown}")
        log.info(" ".join(words))


class BarOnly(ProgressCallback):
    """tqdm's bar on a terminal, without the dicts it prints above itself (LogLines prints the entries)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return control

"""The predict step: generated answers for a tokenized dataset's validation (or test) split, one JSON line per
question, written as they are made and resumed after an interruption.

The answering is t5qa.model.answering's (the batches, the scores, the no-answer rule), as `t5qa ask` runs it. Here:
batch b goes to process b % world_size; each batch's answers are kept in a part as soon as they are made
(t5qa.model.prediction_parts), so a job stopped by a signal (it finishes its batch and exits 143, or 130 on Ctrl-C),
killed or timed out continues with the batches it lacks on its next attempt; the predictions file is assembled from
the parts at the end, the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path

import datasets
import pyarrow
import torch
from accelerate import PartialState
from tqdm import tqdm

from t5qa.atomic import atomic_path, check_destination
from t5qa.cli import first_line
from t5qa.errors import InputError
from t5qa.model import attempts
from t5qa.model.answering import answer_records, check_vocabulary, generate_batch, plan_batches, prepare_model
from t5qa.model.model_io import load_model
from t5qa.model.prediction_parts import PredictionParts, parts_folder, prediction_fingerprint
from t5qa.progress import Ticker, on_terminal
from t5qa.settings import PredictSettings

log = logging.getLogger("t5qa.model.predict")


def load_validation(tokenized_dir: Path, split: str = "validation") -> dict[str, list]:
    """The tokenized folder's validation (or test) split: ids, sources, windows, input ids, checked for what
    prediction reads."""
    what = f"{tokenized_dir}: not a tokenized dataset folder (save_to_disk)"
    try:
        splits = datasets.load_from_disk(str(tokenized_dir))
        if not isinstance(splits, datasets.DatasetDict) or split not in splits:
            raise InputError(f"{what} with a {split} split")
        missing = {"id", "source", "window", "input_ids"} - set(splits[split].column_names)
        if missing:
            raise InputError(
                f"{what}: its {split} split lacks the columns {sorted(missing)} (made by an older tokenize step?)"
            )
        columns = splits[split].select_columns(["id", "source", "window", "input_ids"]).to_dict()
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, pyarrow.ArrowException) as err:
        raise InputError(f"{what} ({first_line(err)})") from err
    if not columns["id"]:
        raise InputError(f"{tokenized_dir}: the {split} split has no rows")
    for row, (id_, source, ids) in enumerate(zip(columns["id"], columns["source"], columns["input_ids"])):
        if not (isinstance(id_, str) and isinstance(source, str) and _is_token_ids(ids)):
            raise InputError(f"{what}: {split} row {row} needs a text id and source and a list of token ids")
    return columns


def _is_token_ids(ids) -> bool:
    return isinstance(ids, list) and bool(ids) and all(type(t) is int and t >= 0 for t in ids)


def predict(
    model_dir: Path,
    tokenized_dir: Path,
    output: Path,
    settings: PredictSettings,
    unanswerable: str,
    split: str = "validation",
) -> int:
    """Write the predictions of `split` to `output`. Returns 0, or the exit status of the signal that stopped it
    (143 for SIGTERM, 130 for Ctrl-C) after the batch in hand was kept. `unanswerable` is the target the model learnt
    for "no answer" (the tokenize step's setting): it maps back to an empty prediction."""
    stop = StopAfterBatch()  # first: a signal while loading must not be lost
    datasets.disable_caching()
    # cpu=True on a machine without CUDA: several CPU processes then form a gloo group instead of each one
    # believing it is alone (and predicting everything).
    state = PartialState(cpu=not torch.cuda.is_available())
    check_destination(output)
    validation = load_validation(tokenized_dir, split)
    tokenizer, model = load_model(model_dir)
    input_ids = validation["input_ids"]
    check_vocabulary(input_ids, model, f"{tokenized_dir} and {model_dir}")
    model = prepare_model(model, settings, state.device)
    na_ids = tokenizer(text_target=unanswerable)["input_ids"]
    batches = plan_batches([len(x) for x in input_ids], settings)

    compute = {
        "device": torch.cuda.get_device_name(state.device) if state.device.type == "cuda" else "cpu",
        "dtype": str(model.dtype),
        "cpu_threads": torch.get_num_threads() if state.device.type == "cpu" else None,
    }
    fingerprint = prediction_fingerprint(model_dir, tokenized_dir, split, settings.as_dict(), unanswerable, compute)
    parts = PredictionParts(parts_folder(output), fingerprint)
    if state.is_main_process:
        kept = parts.open()
        log.info(
            "%d model inputs in %d batches (%.1f inputs each on average), %d torch threads per process",
            len(input_ids),
            len(batches),
            len(input_ids) / len(batches),
            torch.get_num_threads(),
        )
        if kept:
            attempts.log.info("resuming: %d of %d batches already predicted in %s", kept, len(batches), parts.folder)
    state.wait_for_everyone()  # the main process has kept or emptied the parts folder

    done = parts.done()
    mine = [b for b in range(state.process_index, len(batches), state.num_processes)]
    todo = [b for b in mine if b not in done]
    shown = state.is_local_main_process
    ticker = Ticker(log, "predict batches", len(mine), unit="batches") if shown and not on_terminal() else None
    if ticker:
        ticker.update(len(mine) - len(todo))
    bar = tqdm(todo, desc=f"predict[{state.process_index}]", disable=not shown or ticker is not None)
    for count, b in enumerate(bar, len(mine) - len(todo) + 1):
        if stop.requested:
            break
        with torch.inference_mode():
            inputs = [input_ids[i] for i in batches[b]]
            generated = generate_batch(model, tokenizer, inputs, settings, na_ids, state.device)
        parts.write(b, batches[b], generated)
        if ticker:
            ticker.update(count)
    if stop.requested:
        left = len(todo) - sum(1 for b in todo if parts.part(b).exists())
        attempts.log.warning(
            "stopping at the signal: %d of this process's %d batches kept, %d left", len(mine) - left, len(mine), left
        )
        return stop.exit_code

    state.wait_for_everyone()  # every process has kept all its batches
    if state.is_main_process:
        by_row = parts.read()
        if len(by_row) != len(input_ids):
            raise RuntimeError(f"{parts.folder}: {len(by_row)} answers for {len(input_ids)} model inputs")
        written = 0
        with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8") as out:
            for record in answer_records(validation, by_row, unanswerable, settings.na_threshold):
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
        parts.remove()
        log.info("wrote %d predictions (%d model inputs) to %s", written, len(input_ids), output)
    state.wait_for_everyone()
    return 0


class StopAfterBatch:
    """SIGTERM (Slurm's warning before a time limit, preemption) or Ctrl-C: finish the batch in hand, keep it, stop.
    A second Ctrl-C stops at once (the parts written so far are kept either way)."""

    def __init__(self):
        self.requested = False
        self.exit_code = 0
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.requested:
            raise KeyboardInterrupt
        attempts.signal_received(signum)
        log.warning("%s received: stopping after this batch", signal.Signals(signum).name)
        self.requested, self.exit_code = True, 128 + signum

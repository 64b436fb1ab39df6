"""Batched greedy (or beam) generation over the tokenized validation (or test) split.

Examples are sorted by length and cut into batches once; batch b goes to process b % world_size,
so every batch, and so every prediction, is the same whatever the number of processes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import pyarrow
import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from tqdm import tqdm
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from t5qa.atomic import atomic_path, check_destination
from t5qa.cli import first_line
from t5qa.errors import InputError
from t5qa.features import PRETRAINED_ERRORS, prediction_to_answer
from t5qa.progress import Ticker, on_terminal
from t5qa.settings import PredictSettings, TokenizeSettings

log = logging.getLogger("t5qa.predict")


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Longest first, so an out-of-memory batch fails at once rather than at the end."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def read_tokenize_stats(path: Path) -> tuple[TokenizeSettings, int]:
    """What prediction takes from the tokenize step: its settings (the unanswerable target, the target length
    limit) and the longest training target, from the stats JSON it wrote."""
    if not path.is_file():
        raise InputError(f"{path}: tokenize stats not found")
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
        longest, settings = stats["train"]["target_length"]["max"], stats["settings"]
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InputError(f"{path}: not a JSON file ({err})") from err
    except (KeyError, TypeError) as err:
        raise InputError(f"{path}: not a tokenize stats file (no train.target_length.max and settings)") from err
    if type(longest) is not int or longest < 1:
        raise InputError(f"{path}: train.target_length.max must be a positive integer")
    return TokenizeSettings.from_dict(settings, where=f"{path}: settings"), longest


def auto_max_new_tokens(longest_target: int, max_target_length: int) -> int:
    """Long enough for every training target (+1 for the end token), never past the training limit."""
    return min(max_target_length, longest_target + 1)


def load_validation(tokenized_dir: Path, split: str = "validation") -> dict[str, list]:
    """The tokenized folder's validation (or test) split: ids, sources, input ids, checked for what prediction
    reads."""
    what = f"{tokenized_dir}: not a tokenized dataset folder (save_to_disk)"
    try:
        splits = datasets.load_from_disk(str(tokenized_dir))
        if not isinstance(splits, datasets.DatasetDict) or split not in splits:
            raise InputError(f"{what} with a {split} split")
        missing = {"id", "source", "input_ids"} - set(splits[split].column_names)
        if missing:
            raise InputError(f"{what}: its {split} split lacks the columns {sorted(missing)}")
        columns = splits[split].select_columns(["id", "source", "input_ids"]).to_dict()
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


def load_model(model_dir: Path):
    """The trained model and the tokenizer saved beside it."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)
    except PRETRAINED_ERRORS as err:
        raise InputError(f"{model_dir}: not a model folder or a cached hub model ({first_line(err)})") from err
    if tokenizer.pad_token_id is None:
        raise InputError(f"{model_dir}: the tokenizer has no padding token, which batching needs")
    return tokenizer, model


def predict(
    model_dir: Path,
    tokenized_dir: Path,
    output: Path,
    settings: PredictSettings,
    unanswerable: str,
    split: str = "validation",
) -> None:
    """`unanswerable` is the target the model learnt for "no answer" (the tokenize step's setting): it maps back to
    an empty prediction."""
    datasets.disable_caching()
    # cpu=True on a machine without CUDA: several CPU processes then form a gloo group instead of each one
    # believing it is alone (and predicting everything).
    state = PartialState(cpu=not torch.cuda.is_available())
    check_destination(output)
    validation = load_validation(tokenized_dir, split)
    n_examples = len(validation["id"])
    tokenizer, model = load_model(model_dir)
    largest = max(max(ids) for ids in validation["input_ids"])
    if largest >= model.config.vocab_size:
        raise InputError(
            f"{tokenized_dir}: token id {largest} is outside {model_dir}'s vocabulary ({model.config.vocab_size}); "
            "was it tokenized with another tokenizer?"
        )
    model = model.to(state.device).eval()
    if state.device.type == "cuda" and torch.cuda.is_bf16_supported() and settings.precision != "fp32":
        model = model.to(torch.bfloat16)
        torch.backends.cuda.matmul.allow_tf32 = True

    input_ids = validation["input_ids"]
    batches = length_sorted_batches([len(x) for x in input_ids], settings.batch_size)
    mine = batches[state.process_index :: state.num_processes]
    results: list[tuple[int, str]] = []
    shown = state.is_local_main_process
    ticker = Ticker(log, "predict batches", len(mine), unit="batches") if shown and not on_terminal() else None
    if ticker:
        ticker.update(0)
    bar = tqdm(mine, desc=f"predict[{state.process_index}]", disable=not shown or ticker is not None)
    for done, batch in enumerate(bar, 1):
        features = tokenizer.pad({"input_ids": [input_ids[i] for i in batch]}, return_tensors="pt")
        with torch.inference_mode():
            generated = model.generate(
                **features.to(state.device),
                max_new_tokens=settings.max_new_tokens,
                num_beams=settings.num_beams,
                do_sample=False,
            )
        texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
        results.extend(zip(batch, texts))
        if ticker:
            ticker.update(done)

    everything = gather_object(results) if state.num_processes > 1 else results
    if state.is_main_process:
        by_index = dict(everything)
        if len(by_index) != n_examples:
            raise RuntimeError(f"gathered {len(by_index)} predictions for {n_examples} examples")
        ids, sources = validation["id"], validation["source"]
        with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8") as out:
            for i in range(n_examples):
                row = {
                    "id": ids[i],
                    "source": sources[i],
                    "prediction": prediction_to_answer(by_index[i], unanswerable),
                    "generated": by_index[i],
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        log.info("wrote %d predictions to %s", n_examples, output)
    state.wait_for_everyone()

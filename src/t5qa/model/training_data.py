"""What training reads from the tokenized folder: the training split, and the fixed validation sample scored
during training with its gold answers and scorer."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow
from transformers import EvalPrediction

from t5qa.cli import first_line
from t5qa.data.features import prediction_to_answer
from t5qa.errors import InputError
from t5qa.evaluate.scoring import aggregate, score_one

MODEL_COLUMNS = ["input_ids", "attention_mask", "labels", "length"]
EVAL_COLUMNS = ["input_ids", "attention_mask", "labels"]
# The scores logged at each evaluation (as eval_<name>): the official script's, overall and by answerability.
EVAL_SCORES = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1")


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

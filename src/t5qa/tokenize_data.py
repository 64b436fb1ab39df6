"""Build a dataset's tokenized Arrow folder (train + validation) from its sources' normalised tables."""

from __future__ import annotations

import logging
from pathlib import Path

import datasets
import pandas as pd

from t5qa.atomic import atomic_path
from t5qa.cli import read_table
from t5qa.errors import InputError
from t5qa.features import check_template, length_stats, make_tokenize_fn
from t5qa.settings import TokenizeSettings
from t5qa.text import gold_answers

log = logging.getLogger("t5qa.tokenize_data")
# What the Arrow folder keeps for training, validation during training and prediction.
TOKENIZED_COLUMNS = ["id", "source", "answers", "input_ids", "attention_mask", "labels", "length"]


def text_columns(settings: TokenizeSettings) -> list[str]:
    """The table columns tokenizing reads (the processed ones only when the settings ask for them)."""
    if settings.text_columns == "processed":
        return ["id", "question_processed", "context_processed", "answer", "answer_processed"]
    return ["id", "question", "context", "answer", "answer_processed"]


def load_split(tables: list[tuple[str, Path]], columns: list[str]) -> datasets.Dataset:
    """Concatenate sources, tagging each row with its source name."""
    names = [source for source, _ in tables]
    frames = []
    for source, path in tables:
        if names.count(source) > 1:
            raise InputError(f"{path}: source name {source!r} is given to {names.count(source)} tables")
        frame = read_table(path, columns)
        frame.insert(0, "source", source)
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    return datasets.Dataset.from_pandas(frame, preserve_index=False)


def tokenize_dataset(
    tables: dict[str, list[tuple[str, Path]]], tokenizer, settings: TokenizeSettings, output: Path, num_proc: int = 1
) -> dict:
    """Tokenize each split given (split -> [(source, table)]) into `output` (save_to_disk, renamed into place).
    Returns the stats."""
    for warning in check_template(settings.template):
        log.warning(warning)
    tokenize = make_tokenize_fn(tokenizer, settings)
    splits, stats = {}, {}
    for split, split_tables in tables.items():
        raw = load_split(split_tables, text_columns(settings))
        # Every gold answer, as the metrics step scores them: validation during training scores the same way.
        golds = [gold_answers(a, p) for a, p in zip(raw["answer"], raw["answer_processed"])]
        raw = raw.add_column("answers", golds, feature=datasets.List(datasets.Value("string")))
        keep = ["id", "source", "answers"]
        encoded = raw.map(
            tokenize,
            batched=True,
            batch_size=1000,
            num_proc=num_proc if num_proc > 1 else None,
            remove_columns=[c for c in raw.column_names if c not in keep],
            desc=f"tokenize {split}",
        )
        stats[split] = split_stats(encoded)
        # Diagnostics stay in the stats; the Arrow folder keeps what training and prediction read.
        splits[split] = encoded.select_columns(TOKENIZED_COLUMNS)
    with atomic_path(output, is_dir=True) as tmp:
        datasets.DatasetDict(splits).save_to_disk(str(tmp))
    return stats


def split_stats(encoded: datasets.Dataset) -> dict:
    table = encoded.select_columns(
        [
            "source",
            "source_length",
            "target_length",
            "input_truncated",
            "target_truncated",
            "answer_truncated",
        ]
    ).to_pandas()
    return {
        "rows": len(table),
        "rows_per_source": {k: int(v) for k, v in table["source"].value_counts(sort=False).items()},
        "source_length": length_stats(table["source_length"]),
        "target_length": length_stats(table["target_length"]),
        "inputs_truncated": int(table["input_truncated"].sum()),
        "targets_truncated": int(table["target_truncated"].sum()),
        "answers_cut_off_by_input_truncation": int(table["answer_truncated"].sum()),
    }

"""Build a dataset's tokenized Arrow folder (train + validation) from its sources' normalised tables."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import datasets
import pyarrow as pa

from t5qa.atomic import atomic_path, atomic_paths
from t5qa.cli import read_table
from t5qa.data.features import DIAGNOSTIC_COLUMNS, check_template, length_stats, make_tokenize_fn
from t5qa.data.formats import MAX_EXAMPLE_IDS
from t5qa.errors import InputError
from t5qa.settings import TokenizeSettings
from t5qa.text import gold_answers

log = logging.getLogger("t5qa.data.tokenize_data")
# What the Arrow folder keeps for training, validation during training and prediction.
# A question too long for one input has several rows (windows), numbered by `window`; `primary` marks one per question.
ANSWERS_FEATURE = datasets.List(datasets.Value("string"))
BATCH_ROWS = 10_000  # rows read at a time where a whole split need not be held
TOKENIZED_COLUMNS = ["id", "source", "answers", "window", "primary", "input_ids", "attention_mask", "labels", "length"]


def text_columns(settings: TokenizeSettings) -> list[str]:
    """The table columns tokenizing reads (the processed ones only when the settings ask for them)."""
    if settings.text_columns == "processed":
        return ["id", "question_processed", "context_processed", "answer", "answer_processed"]
    return ["id", "question", "context", "answer", "answer_processed"]


def load_split(tables: list[tuple[str, Path]], columns: list[str]) -> datasets.Dataset:
    """Concatenate sources, tagging each row with its source name. Each table becomes Arrow before the next is read
    (no table of all sources in pandas beside their Arrow copy)."""
    names = [source for source, _ in tables]
    parts = []
    for source, path in tables:
        if names.count(source) > 1:
            raise InputError(f"{path}: source name {source!r} is given to {names.count(source)} tables")
        frame = read_table(path, columns)
        frame.insert(0, "source", source)
        parts.append(datasets.Dataset.from_pandas(frame, preserve_index=False))
        del frame
    return parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)


def tokenize_dataset(
    tables: dict[str, list[tuple[str, Path]]],
    tokenizer,
    settings: TokenizeSettings,
    output: Path,
    num_proc: int = 1,
    stats_path: Path | None = None,
    write_stats: Callable[[Path, dict], None] | None = None,
    overlap_train: list[tuple[str, Path]] | None = None,
) -> dict:
    """Tokenize each split given (split -> [(source, table)]) into `output` (save_to_disk, renamed into place).
    Returns the stats. With `stats_path`, `write_stats(path, stats)` writes them there too, and the folder and the
    stats are renamed into place together (never one run's folder with another run's stats). `overlap_train`: for a
    test folder, the training tables its rows are compared against (read for that count only, never tokenized)."""
    check_tokenize_settings(settings)
    splits, stats = {}, {}
    raws = {split: load_split(split_tables, text_columns(settings)) for split, split_tables in tables.items()}
    train = raws.get("train")
    if train is None and overlap_train:
        train = load_split(overlap_train, text_columns(settings))
    # Validation and test rows alike are counted against training's (a test file that is the training file).
    overlaps = {
        split: overlap_with_train(train, raws[split], split, settings)
        for split in ("validation", "test")
        if split in raws and train is not None
    }
    for split, raw in raws.items():
        # Every gold answer, as the metrics step scores them: validation during training scores the same way.
        raw = raw.add_column("answers", gold_column(raw), feature=ANSWERS_FEATURE)
        # Training keeps the windows worth learning from; validation and test keep all (prediction reads them all).
        tokenize = make_tokenize_fn(tokenizer, settings, all_windows=split != "train")
        encoded = raw.map(
            tokenize,
            batched=True,
            batch_size=1000,
            num_proc=num_proc if num_proc > 1 else None,
            remove_columns=raw.column_names,
            desc=f"tokenize {split}",
        )
        stats[split] = split_stats(encoded)
        if overlaps.get(split):
            stats[split]["overlap_with_train"] = overlaps[split]
        # Diagnostics stay in the stats; the Arrow folder keeps what training and prediction read.
        splits[split] = encoded.select_columns(TOKENIZED_COLUMNS)
    if stats_path is None:
        with atomic_path(output, is_dir=True) as tmp:
            datasets.DatasetDict(splits).save_to_disk(str(tmp))
        return stats
    with atomic_paths(output, stats_path, is_dir=(True, False)) as (tmp, stats_tmp):
        datasets.DatasetDict(splits).save_to_disk(str(tmp))
        write_stats(stats_tmp, stats)
    return stats


def check_tokenize_settings(settings: TokenizeSettings) -> None:
    """Warn about a template the model may read badly; refuse windows that could not hold the question."""
    for warning in check_template(settings.template):
        log.warning(warning)
    if settings.long_inputs == "windows" and settings.overlap >= settings.max_source_length:
        raise InputError(
            f"--settings: stride {settings.overlap} must be smaller than max_source_length "
            f"{settings.max_source_length} (windows share `stride` tokens and still hold the question)"
        )


def gold_column(raw: datasets.Dataset) -> pa.ChunkedArray:
    """Each row's gold answers (t5qa.text.gold_answers), built a batch at a time into Arrow (never a Python list per
    row of the whole split)."""
    arrow_type = datasets.Features({"answers": ANSWERS_FEATURE}).arrow_schema.field("answers").type
    chunks = [
        pa.array([gold_answers(a, p) for a, p in zip(batch["answer"], batch["answer_processed"])], type=arrow_type)
        for batch in raw.select_columns(["answer", "answer_processed"]).iter(batch_size=BATCH_ROWS)
    ]
    return pa.chunked_array(chunks, type=arrow_type)


def overlap_with_train(
    train: datasets.Dataset, held_out: datasets.Dataset, split: str, settings: TokenizeSettings
) -> dict | None:
    """Rows of a held-out split (validation or test) that repeat a training row: the same source and id, or the same
    question and context (as the model reads them, from any source). Scoring on them overstates the scores, so they
    are counted in the stats with their first ids and warned about (`tokenize.train_validation_overlap: warn`), or
    refused (`refuse`). None when there are none."""
    question, context = text_columns(settings)[1:3]
    # What the held-out split holds, then which of it training holds, training read a batch at a time (exactly the
    # sets of training rows' keys intersected with the split's, without holding all of training's text as strings).
    held_ids = set(zip(held_out["source"], held_out["id"]))
    held_texts = set(zip(held_out[question], held_out[context]))
    train_ids, train_texts = set(), set()
    for batch in train.select_columns(["source", "id", question, context]).iter(batch_size=BATCH_ROWS):
        train_ids.update(key for key in zip(batch["source"], batch["id"]) if key in held_ids)
        train_texts.update(key for key in zip(batch[question], batch[context]) if key in held_texts)
    same_id, same_text, first = 0, 0, []
    for source, row_id, q, c in zip(held_out["source"], held_out["id"], held_out[question], held_out[context]):
        by_id, by_text = (source, row_id) in train_ids, (q, c) in train_texts
        same_id += by_id
        same_text += by_text
        if (by_id or by_text) and len(first) < MAX_EXAMPLE_IDS:
            first.append(f"{source}:{row_id}")
    if not first:
        return None
    found = {"same_id": same_id, "same_question_and_context": same_text, "first_ids": first}
    summary = (
        f"{same_id} {split} rows have a training row's id and {same_text} a training row's question and "
        f"context (scoring on training rows overstates the scores), e.g. {', '.join(first)}"
    )
    if settings.train_validation_overlap == "refuse":
        raise InputError(f"--{split}: {summary}; tokenize.train_validation_overlap: refuse")
    log.warning("%s; counted in the stats as %s.overlap_with_train", summary, split)
    return found


def split_stats(encoded: datasets.Dataset) -> dict:
    """Counts per question (its primary row carries the question's diagnostics), and the number of rows."""
    table = encoded.select_columns(["source", *DIAGNOSTIC_COLUMNS]).to_pandas()
    questions = table[table["primary"]]
    return {
        "rows": len(questions),
        "rows_per_source": {k: int(v) for k, v in questions["source"].value_counts(sort=False).items()},
        "model_inputs": len(table),
        "source_length": length_stats(questions["source_length"]),
        "target_length": length_stats(table["target_length"]),
        "inputs_truncated": int(questions["input_truncated"].sum()),
        "targets_truncated": int(table["target_truncated"].sum()),
        "answers_past_cut": int(questions["answer_past_cut"].sum()),
        "answers_unseen": int(questions["answer_truncated"].sum()),
    }

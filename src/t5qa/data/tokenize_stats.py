"""The tokenize step's stats file (`<dataset>.stats.json`): its one writer and its readers.

Per split: rows, rows per source, source/target length summaries and the tokenize diagnostics; plus the tokenize
settings the data was made with. Training, prediction, the model card and the report page read it from here.
"""

from __future__ import annotations

from pathlib import Path

from t5qa import SPLITS
from t5qa.atomic import write_json
from t5qa.cli import read_json_file, require_object
from t5qa.errors import InputError
from t5qa.settings import TokenizeSettings

STATS_IN_MODEL = "tokenize_stats.json"  # a trained model's copy: the data it learnt from, and how it was tokenized
# What every split's entry holds (tokenize_data.split_stats).
TRUNCATION_KEYS = ("model_inputs", "inputs_truncated", "targets_truncated", "answers_past_cut", "answers_unseen")
SPLIT_KEYS = ("rows", "rows_per_source", "source_length", "target_length", *TRUNCATION_KEYS)


def write_tokenize_stats(path: str | Path, stats: dict, settings: TokenizeSettings) -> None:
    """The per-split stats of tokenize_dataset and the settings that made them, written atomically."""
    write_json(path, {**stats, "settings": settings.as_dict()})


def load_tokenize_stats(path: str | Path, splits=SPLITS) -> dict:
    """The whole stats file, checked for what its readers use: each of `splits` and the settings."""
    path = Path(path)
    stats = read_json_file(path, "tokenize stats")
    require_object(stats, path, "tokenize stats", objects=[*splits, "settings"])
    for split in splits:
        require_object(stats[split], path, split, SPLIT_KEYS, ["rows_per_source", "source_length", "target_length"])
    return stats


def read_tokenize_stats(path: Path) -> tuple[TokenizeSettings, int]:
    """What training and prediction take from the stats: the tokenize settings (the unanswerable target, the target
    length limit) and the longest training target."""
    if not path.is_file():
        raise InputError(f"{path}: tokenize stats not found")
    try:
        stats = read_json_file(path, "tokenize stats")
        longest, settings = stats["train"]["target_length"]["max"], stats["settings"]
    except (KeyError, TypeError) as err:
        raise InputError(f"{path}: not a tokenize stats file (no train.target_length.max and settings)") from err
    if type(longest) is not int or longest < 1:
        raise InputError(f"{path}: train.target_length.max must be a positive integer")
    return TokenizeSettings.from_dict(settings, where=f"{path}: settings"), longest

"""The benchmarks' one preparation: raw QA files to the inputs of the train and predict steps, through the pipeline's
own step functions, as the workflow runs them (normalize, scratch_tokenizer, scratch_model, tokenize_data):

  work/norm/<split>-<source>.parquet   normalised tables (t5qa.data.normalize; a hash holdout carves out validation)
  work/tokenizer/                      a scratch sentencepiece tokenizer trained on the train split's text
  work/init/                           a random-init T5 for it, with the tokenizer (only given an architecture)
  work/tokenized/                      the tokenized Arrow folder (t5qa.data.tokenize_data; unless tokenize=False)
  work/tokenize_stats.json             its stats (t5qa.data.tokenize_stats)

  from prepare import prepare  # benchmarks/ on sys.path
  data = prepare(work, {"train": [("squad", path, "squad_v2_json")]}, holdout=0.25, tokenize={...})
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

# split -> [(source name, raw file, format)]
Sources = dict[str, list[tuple[str, Path, str]]]
SPLITS = ("train", "validation")


@dataclasses.dataclass
class Prepared:
    """What `prepare` made in `work`; `tables` are the normalised tables (split -> [(source, table)])."""

    work: Path
    tables: dict[str, list[tuple[str, pd.DataFrame]]]
    settings: object  # the TokenizeSettings the data is (or would be) tokenized with
    tokenizer: object  # the scratch tokenizer, as the tokenize step loads it from `tokenizer_dir`
    validation_of: int  # validation questions before validation_questions cut them
    stats: dict | None = None  # the tokenize stats (None: not tokenized)

    def __post_init__(self):
        self.tokenizer_dir, self.model_dir = self.work / "tokenizer", self.work / "init"
        self.tokenized, self.stats_file = self.work / "tokenized", self.work / "tokenize_stats.json"

    def rows(self, split: str) -> int:
        return sum(len(table) for _, table in self.tables[split])


def normalize(sources: Sources, holdout: float | None = None) -> dict[str, list[tuple[str, pd.DataFrame]]]:
    """Each file as the normalize step reads it. With `holdout`, a train file also gives the validation split: that
    fraction of its rows by a hash of the id (the step's `holdout` setting)."""
    from t5qa.data.normalize import normalize_file
    from t5qa.settings import NormalizeSettings

    tables: dict[str, list] = {split: [] for split in SPLITS}
    for split, files in sources.items():
        for source, path, fmt in files:
            parts = [split] if holdout is None else ["train", "validation"]
            for part in parts:
                settings = {"format": fmt}
                if holdout is not None:
                    settings["holdout"] = {"fraction": holdout, "part": part}
                table, _ = normalize_file(path, NormalizeSettings.from_dict(settings))
                tables[part].append((source, table))
    return tables


def limit_validation(tables: list[tuple[str, pd.DataFrame]], questions: int, spread: bool) -> list:
    """At most `questions` validation questions: every k-th of each source (`spread`), or the first ones."""
    if not spread:
        left, kept = questions, []
        for source, table in tables:
            kept.append((source, table.head(left)))
            left -= len(kept[-1][1])
        return kept
    step = max(1, -(-sum(len(table) for _, table in tables) // questions))
    return [(source, table.iloc[::step]) for source, table in tables]


def prepare(
    work: Path,
    sources: Sources,
    *,
    holdout: float | None = None,
    validation_questions: int | None = None,
    spread: bool = True,
    tokenize: dict | None = None,
    tokenized: bool = True,
    vocab_size: int = 8000,
    architecture: dict | None = None,
    seed: int = 0,
) -> Prepared:
    """Normalise `sources` (split -> [(source, file, format)]) into `work`, train a scratch tokenizer on the train
    split's text (`vocab_size` pieces at most), build a random-init model of `architecture` for it (when given), and
    tokenize with the `tokenize` settings (the schema's defaults for those left out; not with tokenized=False). The
    validation split keeps at most `validation_questions` (see limit_validation)."""
    from t5qa.data.features import load_tokenizer
    from t5qa.data.tokenize_data import tokenize_dataset
    from t5qa.data.tokenize_stats import write_tokenize_stats
    from t5qa.model.scratch_model import build_model, tokenizer_texts, train_tokenizer
    from t5qa.settings import TokenizeSettings

    work = Path(work)
    (work / "norm").mkdir(parents=True, exist_ok=True)
    tables = normalize(sources, holdout)
    validation_of = sum(len(table) for _, table in tables["validation"])
    if validation_questions is not None:
        tables["validation"] = limit_validation(tables["validation"], validation_questions, spread)
    paths: dict[str, list[tuple[str, Path]]] = {}
    for split, parts in tables.items():
        for source, table in parts:
            path = work / "norm" / f"{split}-{source}.parquet"
            table.to_parquet(path)
            paths.setdefault(split, []).append((source, path))
    settings = TokenizeSettings.from_dict(tokenize or {})
    prepared = Prepared(work, tables, settings, None, validation_of)
    tokenizer = train_tokenizer(
        tokenizer_texts([table for _, table in tables["train"]], settings.template, settings.unanswerable_target),
        vocab_size=vocab_size,
        seed=seed,
    )
    tokenizer.save_pretrained(prepared.tokenizer_dir)
    if architecture is not None:  # as the scratch_model step saves it: the model and its tokenizer
        build_model(tokenizer, architecture, seed=seed).save_pretrained(prepared.model_dir)
        tokenizer.save_pretrained(prepared.model_dir)
    prepared.tokenizer = load_tokenizer(str(prepared.tokenizer_dir))  # as the tokenize step loads it
    if tokenized:
        prepared.stats = tokenize_dataset(paths, prepared.tokenizer, settings, prepared.tokenized)
        write_tokenize_stats(prepared.stats_file, prepared.stats, settings)
    return prepared

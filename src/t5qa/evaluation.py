"""Score a predictions JSONL against normalised reference tables: overall and per source."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from t5qa.errors import InputError
from t5qa.metrics import aggregate, normalize_answer, score_one
from t5qa.text import split_answers


def gold_answers(answer: str, answer_processed: str) -> list[str]:
    """The raw golds; a release whose processed column lists more golds (CausalQA) contributes those."""
    raw, processed = split_answers(answer), split_answers(answer_processed)
    return raw if len(raw) >= len(processed) else processed


def load_references(references: list[tuple[str, Path]]) -> pd.DataFrame:
    frames = []
    for source, path in references:
        if not path.is_file():
            raise InputError(f"{path}: reference file not found")
        frame = pd.read_parquet(path, columns=["id", "answer", "answer_processed"])
        frame.insert(0, "source", source)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def load_predictions(path: Path) -> list[dict]:
    if not path.is_file():
        raise InputError(f"{path}: predictions file not found")
    rows = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path}: line {number} is not valid JSON ({err})") from err
            if not isinstance(row.get("id"), str) or not isinstance(row.get("prediction"), str):
                raise InputError(f"{path}: line {number} needs a string 'id' and a string 'prediction'")
            rows.append(row)
    return rows


def match_predictions(predictions: list[dict], refs: pd.DataFrame, path: Path) -> dict[tuple[str, str], str]:
    """Key every prediction by (source, id); every reference needs exactly one prediction."""
    ids_per_source = Counter(refs["id"])
    source_of_id = dict(zip(refs["id"], refs["source"]))
    matched: dict[tuple[str, str], str] = {}
    for row in predictions:
        source = row.get("source")
        if source is None:
            if ids_per_source[row["id"]] > 1:
                raise InputError(f"{path}: id {row['id']!r} is in several sources; add a 'source' field")
            source = source_of_id.get(row["id"])
        key = (source, row["id"])
        if key in matched:
            raise InputError(f"{path}: two predictions for id {row['id']!r} (source {source})")
        matched[key] = row["prediction"]
    expected = set(zip(refs["source"], refs["id"]))
    missing, unknown = expected - matched.keys(), matched.keys() - expected
    if missing:
        raise InputError(f"{path}: {len(missing)} reference ids have no prediction, e.g. {sorted(missing)[:5]}")
    if unknown:
        raise InputError(f"{path}: {len(unknown)} predictions match no reference id, e.g. {sorted(unknown)[:5]}")
    return matched


def evaluate(predictions_path: Path, references: list[tuple[str, Path]], train_answers: list[str] | None = None):
    refs = load_references(references)
    matched = match_predictions(load_predictions(predictions_path), refs, predictions_path)
    golds = [gold_answers(a, p) for a, p in zip(refs["answer"], refs["answer_processed"])]
    has_answer = [bool(g) for g in golds]
    predictions = [matched[(s, i)] for s, i in zip(refs["source"], refs["id"])]
    scores = [score_one(g, p) for g, p in zip(golds, predictions)]
    result = aggregate(scores, has_answer)
    sources = list(dict.fromkeys(refs["source"]))
    if len(sources) > 1:
        result["per_source"] = {
            name: aggregate(
                [s for s, src in zip(scores, refs["source"]) if src == name],
                [h for h, src in zip(has_answer, refs["source"]) if src == name],
            )
            for name in sources
        }
    result["baselines"] = baselines(golds, has_answer, train_answers)
    return result


def baselines(golds: list[list[str]], has_answer: list[bool], train_answers: list[str] | None) -> dict:
    """Trivial predictors to read the model's numbers against."""
    out = {"always_empty": _exact_f1(golds, has_answer, "")}
    if train_answers:
        counts = Counter(normalize_answer(a) for cell in train_answers for a in split_answers(cell)[:1])
        counts.pop("", None)
        if counts:
            answer = counts.most_common(1)[0][0]
            out["most_frequent_answer"] = {"answer": answer, **_exact_f1(golds, has_answer, answer)}
    return out


def _exact_f1(golds, has_answer, prediction: str) -> dict:
    summary = aggregate([score_one(g, prediction) for g in golds], has_answer)
    return {"exact": summary["exact"], "f1": summary["f1"]}

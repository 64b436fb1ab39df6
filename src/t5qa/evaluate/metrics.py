"""Score a predictions JSONL against normalised reference tables: overall and per source."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pandas as pd

from t5qa.cli import load_json, read_table
from t5qa.errors import InputError
from t5qa.evaluate import causalqa_measures
from t5qa.evaluate.scoring import aggregate, best_thresholds, normalize_answer, score_one
from t5qa.text import gold_answers, split_answers


def load_references(references: list[tuple[str, Path]], extra: tuple[str, ...] = ()) -> pd.DataFrame:
    names = [name for name, _ in references]
    for name in names:
        if names.count(name) > 1:
            paths = [str(path) for n, path in references if n == name]
            raise InputError(
                f"--references: {len(paths)} references are named {name!r} ({', '.join(paths)}); "
                "name each one SOURCE=PATH"
            )
    frames = []
    for source, path in references:
        frame = read_table(path, ["id", "answer", "answer_processed", *extra], "reference table")
        frame.insert(0, "source", source)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def load_predictions(path: Path) -> list[dict]:
    """One JSON object per line: a text 'id' and 'prediction', and optionally the 'source' it belongs to, the
    model's probability that the question has no answer ('na_prob', on every line or on none) and the
    log-probability of the generated answer ('score')."""
    if not path.is_file():
        raise InputError(f"{path}: predictions file not found")
    rows, numbers = [], []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # a BOM is fine, as for the data
            except UnicodeDecodeError as err:
                raise InputError(f"{path}: line {number} is not UTF-8 text ({err.reason})") from err
            if not line.strip():
                continue
            row = load_json(line, f"{path}: line {number}")
            rows.append(_check_prediction(row, f"{path}: line {number}"))
            numbers.append(number)
    if not rows:
        raise InputError(f"{path}: no predictions")
    with_na_prob = [number for row, number in zip(rows, numbers) if "na_prob" in row]
    if with_na_prob and len(with_na_prob) < len(rows):
        first_without = next(number for row, number in zip(rows, numbers) if "na_prob" not in row)
        raise InputError(
            f"{path}: line {first_without} has no 'na_prob', but line {with_na_prob[0]} has one; "
            "give every prediction an 'na_prob' or none"
        )
    return rows


def _check_prediction(row, where: str) -> dict:
    if not isinstance(row, dict):
        raise InputError(f"{where} is not a JSON object")
    if not isinstance(row.get("id"), str) or not isinstance(row.get("prediction"), str):
        raise InputError(f"{where} needs a text 'id' and a text 'prediction'")
    if not isinstance(row.get("source"), str | None):
        raise InputError(f"{where}: 'source' must be text (the source the question comes from)")
    for key in ("id", "prediction", "source"):
        try:
            (row.get(key) or "").encode("utf-8")
        except UnicodeEncodeError as err:  # a lone surrogate escape such as "\ud800"
            raise InputError(f"{where}: {key!r} is not valid Unicode text") from err
    for key, what in (("na_prob", "a probability in [0, 1]"), ("score", "a finite number (a log-probability)")):
        if key not in row:
            continue
        number = _finite_number(row[key])
        if number is None or (key == "na_prob" and not 0 <= number <= 1):
            raise InputError(f"{where}: {key!r} must be {what}, not {_shorten(row[key])}")
        row[key] = number
    return row


def _finite_number(value) -> float | None:
    """A JSON number (not true/false) that is finite as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) else None


def _shorten(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def name_references(
    references: list[tuple[str | None, Path]], predictions: list[dict]
) -> tuple[list[tuple[str, Path]], bool]:
    """Name the references given without NAME= (None); also returns whether predictions match by id alone.

    One unnamed reference matches predictions by id alone, whatever source they carry (a table copied out of
    results/normalized/<source>/ keeps no trace of its source); it is named after the predictions' source when
    they all carry the same one, else after its folder. Several unnamed ones are named after their folders.
    """
    if len(references) == 1 and references[0][0] is None:
        path = references[0][1]
        carried = {row.get("source") for row in predictions} - {None}
        return [(carried.pop() if len(carried) == 1 else folder_name(path), path)], True
    return [(name if name is not None else folder_name(path), path) for name, path in references], False


def folder_name(path: Path) -> str:
    return Path(path).resolve().parent.name


def match_predictions(
    predictions: list[dict], refs: pd.DataFrame, path: Path, by_id: bool = False
) -> dict[tuple[str, str], dict]:
    """Key every prediction row by (source, id); every reference needs exactly one prediction."""
    names = list(dict.fromkeys(refs["source"]))
    carried = sorted({row["source"] for row in predictions if row.get("source") is not None})
    hint = ""
    if by_id:  # one reference given without a name: whatever source a prediction names, its id decides
        predictions = [{**row, "source": names[0]} for row in predictions]
        if len(carried) > 1:
            hint = f"; the predictions carry the sources {carried}: give a reference for each, as SOURCE=PATH"
    elif strangers := [source for source in carried if source not in names]:
        raise InputError(
            f"{path}: the predictions carry the sources {carried}, but the references are named {names} "
            f"(a reference given without NAME= is named after its folder); name each reference SOURCE=PATH, "
            f"e.g. --references {strangers[0]}=PATH"
        )
    sources_per_id = Counter(refs["id"])
    source_of_id = dict(zip(refs["id"], refs["source"]))
    matched: dict[tuple[str, str], dict] = {}
    for row in predictions:
        source = row.get("source")
        if source is None:
            if sources_per_id[row["id"]] > 1:
                raise InputError(f"{path}: id {row['id']!r} is in several sources; add a 'source' field")
            source = source_of_id.get(row["id"])
        key = (source, row["id"])
        if key in matched:
            raise InputError(f"{path}: two predictions for id {row['id']!r} (source {source})")
        matched[key] = row
    expected = set(zip(refs["source"], refs["id"]))
    missing, unknown = expected - matched.keys(), matched.keys() - expected
    if missing:
        raise InputError(
            f"{path}: {len(missing)} reference ids have no prediction, e.g. {_examples(missing, not by_id)}"
        )
    if unknown:
        raise InputError(
            f"{path}: {len(unknown)} predictions match no reference id, e.g. {_examples(unknown, not by_id)}{hint}"
        )
    return matched


def _examples(keys: set[tuple[str | None, str]], with_source: bool = True) -> list[str]:
    return [f"{source}:{id_}" if source and with_source else id_ for source, id_ in sorted(keys, key=str)[:5]]


def evaluate(
    predictions_path: Path, references: list[tuple[str | None, Path]], train_answers: list[str] | None = None
) -> dict:
    """Score a predictions file against (SOURCE, PATH) references; SOURCE None: unnamed (see name_references)."""
    predictions = load_predictions(predictions_path)
    references, by_id = name_references(references, predictions)
    return score(predictions, references, predictions_path, train_answers, by_id)


def score(
    predictions: list[dict],
    references: list[tuple[str, Path]],
    predictions_path: Path,
    train_answers: list[str] | None = None,
    by_id: bool = False,
) -> dict:
    refs, golds, rows, scores = scored_questions(predictions, references, predictions_path, by_id)
    has_answer = [bool(g) for g in golds]
    predictions = [row["prediction"] for row in rows]
    result = aggregate(scores, has_answer)
    if rows and all("na_prob" in row for row in rows):  # load_predictions: on every row or on none
        result.update(best_thresholds(scores, has_answer, predictions, [row["na_prob"] for row in rows]))
    sources = list(dict.fromkeys(refs["source"]))
    if len(sources) > 1:
        result["per_source"] = {
            name: aggregate(
                [s for s, src in zip(scores, refs["source"]) if src == name],
                [h for h, src in zip(has_answer, refs["source"]) if src == name],
            )
            for name in sources
        }
    # The paper's measures read their own golds: the raw answer cell split on tabs (never the processed column).
    result["causalqa_measures"] = causalqa_measures.aggregate(
        [causalqa_measures.score_one(causalqa_measures.cell_golds(c), p) for c, p in zip(refs["answer"], predictions)]
    )
    result["baselines"] = baselines(golds, has_answer, train_answers)
    return result


def scored_questions(
    predictions: list[dict],
    references: list[tuple[str, Path]],
    predictions_path: Path,
    by_id: bool = False,
    extra: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, list[list[str]], list[dict], list[dict[str, float]]]:
    """The references, each question's golds, its prediction row and its scores, in the references' order."""
    refs = load_references(references, extra)
    matched = match_predictions(predictions, refs, predictions_path, by_id)
    golds = [gold_answers(a, p) for a, p in zip(refs["answer"], refs["answer_processed"])]
    rows = [matched[(s, i)] for s, i in zip(refs["source"], refs["id"])]
    return refs, golds, rows, [score_one(g, row["prediction"]) for g, row in zip(golds, rows)]


def question_table(
    predictions: list[dict], references: list[tuple[str, Path]], predictions_path: Path, by_id: bool = False
) -> pd.DataFrame:
    """One row per question, worst F1 first (then the surest no-answer among the wrong ones): the question, its
    golds, the prediction and its scores. What to read when looking for the model's errors."""
    refs, golds, rows, scores = scored_questions(predictions, references, predictions_path, by_id, ("question",))
    table = pd.DataFrame(
        {
            "f1": [round(100 * s["f1"], 2) for s in scores],
            "exact": [int(s["exact"]) for s in scores],
            "source": refs["source"],
            "id": refs["id"],
            "question": refs["question"],
            "gold": [" | ".join(g) if g else "(unanswerable)" for g in golds],
            "prediction": [row["prediction"] or "(no answer)" for row in rows],
            "na_prob": [row.get("na_prob") for row in rows],
        }
    )
    order = sorted(range(len(table)), key=lambda i: (table["f1"][i], -(table["na_prob"][i] or 0), i))
    return table.iloc[order].reset_index(drop=True)


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

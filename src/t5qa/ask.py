"""Ask a trained model: questions and contexts in, answers out, exactly as the pipeline's predict step answers them.

The questions go through the tokenize step's own code (the template, the windows of a long context) and the predict
step's own code (batches, the best window, the no-answer rule) on a temporary folder, so an answer here is the
answer the workflow would give. The tokenize settings come from the model folder (`tokenize_stats.json`, which the
train step writes beside the weights); a model without them (a hub id, an older folder) takes the schema's defaults,
each of which can be given on the command line.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pandas as pd

from t5qa import UNIFORM_COLUMNS
from t5qa.download import TOKENIZER_FILES
from t5qa.errors import InputError
from t5qa.features import load_tokenizer
from t5qa.formats import parse_json
from t5qa.model_io import auto_max_new_tokens
from t5qa.predict import predict
from t5qa.settings import PredictSettings, TokenizeSettings
from t5qa.text import process_text
from t5qa.tokenize_data import tokenize_dataset
from t5qa.tokenize_stats import STATS_IN_MODEL, read_tokenize_stats

SOURCE = "asked"  # the source name the questions get in the temporary tables


def model_tokenize_settings(model: str, overrides: dict) -> tuple[TokenizeSettings, int | None]:
    """The tokenize settings a model was trained with (and its longest training answer), with `overrides`
    applied; the schema's defaults for a model folder without them."""
    stats = Path(model) / STATS_IN_MODEL
    if stats.is_file():
        settings, longest = read_tokenize_stats(stats)
        if overrides:
            settings = TokenizeSettings.from_dict({**settings.as_dict(), **overrides}, where="tokenize settings")
        return settings, longest
    return TokenizeSettings.from_dict(dict(overrides), where="tokenize settings"), None


def read_questions(text: str, where: str) -> list[dict]:
    """Questions from JSONL (one object a line) or CSV (a header row), each with `question` and `context` (an
    empty or missing context asks the question alone) and an optional `id`. Read by the data steps' rules
    (t5qa.formats): a JSON object naming a key twice, a CSV row with more or fewer fields than the header, a header
    naming a column twice and broken quoting are refused, naming the line."""
    stripped = text.lstrip("\ufeff").lstrip()
    if not stripped:
        raise InputError(f"{where}: no questions")
    if stripped.startswith("{"):
        rows = []
        for number, line in enumerate(text.lstrip("\ufeff").splitlines(), 1):
            if line.strip():
                row = parse_json(where, line, number)
                if not isinstance(row, dict):
                    raise InputError(f"{where}: line {number}: not a JSON object")
                rows.append((f"line {number}", row))
    else:
        rows = csv_rows(text.lstrip("\ufeff"), where)
    questions = []
    for place, row in rows:
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise InputError(f"{where}: {place}: no question (a `question` field with text)")
        context = row.get("context") or ""
        if not isinstance(context, str):
            raise InputError(f"{where}: {place}: the context must be text")
        id_ = row.get("id")
        id_ = str(id_) if id_ not in (None, "") else str(len(questions) + 1)
        questions.append({"id": id_, "question": question, "context": context})
    ids = [q["id"] for q in questions]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise InputError(f"{where}: id {repeated[0]!r} is given twice")
    return questions


def csv_rows(text: str, where: str) -> list[tuple[str, dict]]:
    """(line, row) of each CSV record under its header, held to the data steps' rules."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header, rows = None, []
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise InputError(f"{where}: line {start}: malformed quoting ({err})") from err
        if not fields:
            continue
        if header is None:
            repeated = sorted({name for name in fields if fields.count(name) > 1})
            if repeated:
                raise InputError(f"{where}: line {start}: the CSV header repeats the column names {repeated}")
            header = fields
        elif len(fields) != len(header):
            raise InputError(f"{where}: line {start}: {len(fields)} fields, but the header has {len(header)}")
        else:
            rows.append((f"line {start}", dict(zip(header, fields))))
    if not rows:
        raise InputError(f"{where}: a header but no questions")
    return rows


def check_tokenizer_files(model: str) -> None:
    """A local model folder without a tokenizer would load an empty vocabulary and answer nothing: refuse it."""
    folder = Path(model)
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise InputError(
            f"{model}: no tokenizer in this model folder (none of {', '.join(TOKENIZER_FILES)}); save the tokenizer "
            "it was trained with beside the weights"
        )


def questions_table(questions: list[dict]) -> pd.DataFrame:
    """The questions as a normalized table (the uniform columns, processed like the normalize step does)."""
    return pd.DataFrame(
        [
            {
                "id": q["id"],
                "question": q["question"],
                "question_processed": process_text(q["question"]),
                "context": q["context"],
                "context_processed": process_text(q["context"]),
                "answer": "",
                "answer_processed": "",
            }
            for q in questions
        ],
        columns=UNIFORM_COLUMNS,
    )


def ask(
    model: str,
    questions: list[dict],
    predict_settings: PredictSettings,
    tokenize_settings: TokenizeSettings,
    longest_target: int | None = None,
) -> list[dict]:
    """Each question's answer record, in the order given: id, question, prediction ("" for no answer), score
    (the answer's mean token log-probability), na_prob (the probability of the unanswerable target), and the
    window and window count of a context too long for one input."""
    if predict_settings.max_new_tokens == "auto":
        limit = tokenize_settings.max_target_length
        new_tokens = auto_max_new_tokens(longest_target, limit) if longest_target else limit
        predict_settings = PredictSettings.from_dict({**predict_settings.as_dict(), "max_new_tokens": new_tokens})
    tokenizer = load_tokenizer(model)
    with tempfile.TemporaryDirectory(prefix="t5qa-ask-") as folder:
        work = Path(folder)
        table = work / "asked.parquet"
        questions_table(questions).to_parquet(table, index=False)
        tokenize_dataset({"test": [(SOURCE, table)]}, tokenizer, tokenize_settings, work / "tokenized")
        output = work / "predictions.jsonl"
        predict(model, work / "tokenized", output, predict_settings, tokenize_settings.unanswerable_target, "test")
        answers = {row["id"]: row for row in map(json.loads, output.read_text(encoding="utf-8").splitlines())}
    records = []
    for q in questions:
        answer = answers[q["id"]]
        record = {"id": q["id"], "question": q["question"], "prediction": answer["prediction"]}
        record |= {key: answer[key] for key in ("score", "na_prob", "window", "windows") if key in answer}
        records.append(record)
    return records

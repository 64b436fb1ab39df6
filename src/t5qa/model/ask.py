"""Ask a trained model: questions and contexts in, answers out, exactly as the pipeline's predict step answers them.

The questions go through the tokenize step's own code (the template, the windows of a long context) and the predict
step's own code (batches, best window, no-answer rule: t5qa.model.answering), in memory, so an answer here is the
answer the workflow would give. The tokenize settings come from the model folder (`tokenize_stats.json`, which the
train step writes beside the weights); a model without them (a hub id, an older folder) takes the schema's defaults,
each of which can be given on the command line.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from t5qa.data.download import TOKENIZER_FILES
from t5qa.data.features import load_tokenizer, make_tokenize_fn
from t5qa.data.text_files import delimited_records, parse_json
from t5qa.data.tokenize_data import check_tokenize_settings
from t5qa.data.tokenize_stats import STATS_IN_MODEL, read_tokenize_stats
from t5qa.errors import InputError
from t5qa.model.answering import answer_questions, check_vocabulary, prepare_model
from t5qa.model.model_io import auto_max_new_tokens, load_model
from t5qa.settings import PredictSettings, TokenizeSettings
from t5qa.text import process_text

SOURCE = "asked"  # the source name the questions get as model inputs


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
    (t5qa.data.formats): a JSON object naming a key twice, a CSV row with more or fewer fields than the header, a
    header naming a column twice and broken quoting are refused, naming the line."""
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
    records = delimited_records(io.StringIO(text, newline=""), where, ",")
    header = next(records, (0, []))[1]
    rows = [(f"line {start}", dict(zip(header, fields))) for start, fields in records]
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


def questions_batch(questions: list[dict]) -> dict[str, list]:
    """The questions as the tokenize step reads a normalized table's rows (processed like the normalize step does)."""
    return {
        "id": [q["id"] for q in questions],
        "source": [SOURCE] * len(questions),
        "question": [q["question"] for q in questions],
        "question_processed": [process_text(q["question"]) for q in questions],
        "context": [q["context"] for q in questions],
        "context_processed": [process_text(q["context"]) for q in questions],
        "answer": [""] * len(questions),
        "answer_processed": [""] * len(questions),
    }


class Asker:
    """A model loaded once (on the GPU when there is one), answering lists of questions in memory."""

    def __init__(self, model: str, tokenize_settings: TokenizeSettings, longest_target: int | None = None):
        check_tokenize_settings(tokenize_settings)
        self.tokenize_settings, self.longest_target = tokenize_settings, longest_target
        self.tokenizer = load_tokenizer(model)
        self.tokenize = make_tokenize_fn(self.tokenizer, tokenize_settings, all_windows=True)
        _, self.model = load_model(model)
        self.where = model

    def ask(self, questions: list[dict], settings: PredictSettings) -> list[dict]:
        """Each question's answer record, in the order given: id, question, prediction ("" for no answer), score
        (the sum of the log-probabilities of the answer's tokens), na_prob (the probability of the unanswerable
        target), and the window and window count of a context too long for one input."""
        if settings.max_new_tokens == "auto":
            limit = self.tokenize_settings.max_target_length
            new_tokens = auto_max_new_tokens(self.longest_target, limit) if self.longest_target else limit
            settings = PredictSettings.from_dict({**settings.as_dict(), "max_new_tokens": new_tokens})
        inputs = self.tokenize(questions_batch(questions))
        check_vocabulary(inputs["input_ids"], self.model, self.where)
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model = prepare_model(self.model, settings, device)
        unanswerable = self.tokenize_settings.unanswerable_target
        answers = {row["id"]: row for row in answer_questions(model, self.tokenizer, inputs, settings, unanswerable)}
        records = []
        for q in questions:
            answer = answers[q["id"]]
            record = {"id": q["id"], "question": q["question"], "prediction": answer["prediction"]}
            record |= {key: answer[key] for key in ("score", "na_prob", "window", "windows") if key in answer}
            records.append(record)
        return records


def ask(
    model: str,
    questions: list[dict],
    predict_settings: PredictSettings,
    tokenize_settings: TokenizeSettings,
    longest_target: int | None = None,
) -> list[dict]:
    """Load `model` and answer `questions` (see `Asker.ask`)."""
    return Asker(model, tokenize_settings, longest_target).ask(questions, predict_settings)

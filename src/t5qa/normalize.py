"""Turn any supported source into the uniform table.

Structural problems (missing file, unparsable file, missing columns) raise `InputError`.
Row problems (empty question, duplicate id, non-string field) drop the row and are counted,
or raise naming the row when `strict`. Legitimate oddities (no context, abstractive answers)
are kept and counted.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from t5qa import UNIFORM_COLUMNS
from t5qa.errors import InputError
from t5qa.text import join_answers, process_answers, process_text, split_answers

FORMATS = ("squad_v2_json", "causalqa_csv", "csv", "tsv", "jsonl", "json", "parquet", "hub")
GENERIC_FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "hub")
MAX_EXAMPLE_IDS = 5  # offending ids quoted per problem in stats and logs


# --------------------------------------------------------------------------- readers


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"{path}: file not found")


def read_squad_v2_json(path: Path) -> list[dict[str, Any]]:
    """The official SQuAD 2.0 layout: data -> paragraphs -> qas; keeps the official ids."""
    _require_file(path)
    try:
        root = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(root, dict) or not isinstance(root.get("data"), list):
        raise InputError(f"{path}: not SQuAD 2.0 JSON (expected an object with a 'data' list)")
    records = []
    for a, article in enumerate(root["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise InputError(f"{path}: data[{a}] has no 'paragraphs' list")
        for p, paragraph in enumerate(paragraphs):
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise InputError(f"{path}: data[{a}].paragraphs[{p}] has no 'qas' list")
            for qa in paragraph["qas"]:
                answers = [] if qa.get("is_impossible") else qa.get("answers") or []
                texts = [ans.get("text") if isinstance(ans, dict) else ans for ans in answers]
                records.append(
                    {
                        "id": qa.get("id"),
                        "question": qa.get("question"),
                        "context": paragraph.get("context"),
                        "answer": texts,
                    }
                )
    return records


def read_causalqa_csv(path: Path) -> pd.DataFrame:
    """A Webis-CausalQA-22 CSV: already in the uniform columns."""
    frame = _read_csv(path, sep=",")
    missing = [c for c in UNIFORM_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing columns {missing} (found {list(frame.columns)})")
    return frame


def _read_csv(path: Path, sep: str) -> pd.DataFrame:
    _require_file(path)
    try:
        # Everything as text, and an empty cell stays "" rather than NaN.
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{path}: cannot parse as {'TSV' if sep == chr(9) else 'CSV'} ({err})") from err


def read_generic(path: Path, fmt: str) -> list[dict[str, Any]]:
    """Records of a csv/tsv/jsonl/json/parquet file (a hub dataset is downloaded as parquet)."""
    if fmt in ("csv", "tsv"):
        return _read_csv(path, sep="," if fmt == "csv" else "\t").to_dict("records")
    _require_file(path)
    if fmt == "jsonl":
        records = []
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise InputError(f"{path}: line {number} is not valid JSON ({err})") from err
        return records
    if fmt == "json":
        try:
            root = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{path}: not valid JSON ({err})") from err
        if isinstance(root, dict) and isinstance(root.get("data"), list):
            root = root["data"]
        if not isinstance(root, list):
            raise InputError(f"{path}: expected a JSON list of records (or an object with a 'data' list)")
        return root
    if fmt in ("parquet", "hub"):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as err:  # pyarrow raises several unrelated types for a bad file
            raise InputError(f"{path}: cannot read as parquet ({err})") from err
    raise InputError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def get_field(record: dict[str, Any], dotted: str) -> Any:
    """`answers.text` reaches into nested records; a missing field is None."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def apply_mapping(records: list[dict[str, Any]], mapping: dict[str, str], path: Path) -> list[dict[str, Any]]:
    """Rename source fields to uniform columns. `question` must exist; a missing `id` is derived from the text."""
    if not records:
        return []
    field = mapping.get("question", "question")
    if all(get_field(r, field) is None for r in records[:100]):
        raise InputError(f"{path}: no field {field!r} for column 'question' (check the source's 'columns')")
    mapped = []
    for record in records:
        row = {column: get_field(record, mapping.get(column, column)) for column in ("id", "question", "context")}
        row["answer"] = get_field(record, mapping.get("answer", "answer"))
        if row["id"] is None and "id" not in mapping:
            row["id"] = derived_id(row)
        mapped.append(row)
    return mapped


def derived_id(row: dict[str, Any]) -> str:
    """A stable id for sources without one: a hash of question and context."""
    key = json.dumps([row.get("question"), row.get("context")], ensure_ascii=False)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- validation


class Problems:
    """Counts row problems and keeps the first few ids of each."""

    def __init__(self, path: Path, strict: bool):
        self.path, self.strict = path, strict
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def report(self, kind: str, row_number: int, row_id: Any, detail: str) -> None:
        if self.strict:
            raise InputError(f"{self.path}: row {row_number} (id {row_id!r}): {detail}")
        self.counts[kind] += 1
        self.examples.setdefault(kind, [])
        if len(self.examples[kind]) < MAX_EXAMPLE_IDS:
            self.examples[kind].append(str(row_id))

    def as_dict(self) -> dict[str, Any]:
        return {k: {"count": n, "first_ids": self.examples[k]} for k, n in sorted(self.counts.items())}


def _as_answer_list(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        return split_answers(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def build_table(
    rows: list[dict[str, Any]], path: Path, strict: bool, given_processed: bool = False
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate rows and fill the uniform columns. Returns the table and its stats."""
    problems = Problems(path, strict)
    kept: Counter[str] = Counter()
    seen_ids: set[str] = set()
    out = []
    for number, row in enumerate(rows, 1):
        row_id = row.get("id")
        if isinstance(row_id, int) and not isinstance(row_id, bool):
            row_id = str(row_id)
        if not isinstance(row_id, str) or not row_id.strip():
            problems.report("missing_id", number, row_id, "id is missing or not a string")
            continue
        question, context = row.get("question"), row.get("context")
        context = "" if context is None else context
        answers = _as_answer_list(row.get("answer"))
        if question is not None and not isinstance(question, str):
            problems.report("non_string_field", number, row_id, f"question is {type(question).__name__}")
            continue
        if not isinstance(context, str):
            problems.report("non_string_field", number, row_id, f"context is {type(context).__name__}")
            continue
        if answers is None:
            problems.report("non_string_field", number, row_id, "answer is neither text nor a list of text")
            continue
        if not question or not question.strip():
            problems.report("empty_question", number, row_id, "question is empty")
            continue
        if row_id in seen_ids:
            problems.report("duplicate_id", number, row_id, "id appears earlier in the file")
            continue
        seen_ids.add(row_id)
        answer = join_answers(answers)
        record = {
            "id": row_id,
            "question": question,
            "question_processed": row.get("question_processed") if given_processed else None,
            "context": context,
            "context_processed": row.get("context_processed") if given_processed else None,
            "answer": answer,
            "answer_processed": row.get("answer_processed") if given_processed else None,
        }
        # Keep the release's own processed text where it has one; compute it otherwise.
        record["question_processed"] = record["question_processed"] or process_text(question)
        record["context_processed"] = record["context_processed"] or process_text(context)
        record["answer_processed"] = record["answer_processed"] or process_answers(answer)
        _count_oddities(record, kept)
        out.append(record)
    table = pd.DataFrame(out, columns=UNIFORM_COLUMNS)
    stats = {
        "input": str(path),
        "rows_read": len(rows),
        "rows_written": len(table),
        "dropped": problems.as_dict(),
        "kept": dict(sorted(kept.items())),
    }
    return table, stats


def _count_oddities(record: dict[str, str], kept: Counter[str]) -> None:
    golds = split_answers(record["answer"])
    if not record["context"].strip():
        kept["no_context"] += 1
    if not golds:
        kept["unanswerable"] += 1
    elif len(golds) > 1:
        kept["multiple_answers"] += 1
    if golds and record["context"] and not any(g in record["context"] for g in golds):
        kept["answer_not_in_context"] += 1


# --------------------------------------------------------------------------- splits


def holdout_mask(ids: pd.Series, fraction: float) -> pd.Series:
    """True for the held-out rows: a hash of the id, so adding rows never reshuffles earlier ones."""

    def bucket(row_id: str) -> int:
        return int.from_bytes(hashlib.sha256(row_id.encode("utf-8")).digest()[:8], "big") % 1_000_000

    threshold = round(fraction * 1_000_000)
    return ids.map(bucket) < threshold


# --------------------------------------------------------------------------- entry point


def normalize_file(
    path: str | Path,
    fmt: str,
    columns: dict[str, str] | None = None,
    strict: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    path = Path(path)
    if fmt == "squad_v2_json":
        return build_table(read_squad_v2_json(path), path, strict)
    if fmt == "causalqa_csv":
        rows = read_causalqa_csv(path).to_dict("records")
        return build_table(rows, path, strict, given_processed=True)
    if fmt in GENERIC_FORMATS:
        rows = apply_mapping(read_generic(path, fmt), columns or {}, path)
        return build_table(rows, path, strict)
    raise InputError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")

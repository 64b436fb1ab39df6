"""Turn any supported source into the uniform table, reading every input exactly or refusing it.

Structural problems raise one `InputError` line naming the file, where (line, JSON path) and what: a missing
file, bytes that are not UTF-8, JSON that does not parse, a CSV record with the wrong number of fields, a column
mapping naming a field the file lacks. Row problems (empty question, duplicate id, a wrong-typed field) drop the
row and count it in the stats with its id (or its position when it has none), or fail naming it when `strict`.
Legitimate oddities (no context, abstractive answers) are kept and counted.

Encoding: every text format is UTF-8, with or without a byte-order mark (read the same either way). Other bytes
are refused naming the line of the first bad byte. JSON that does not parse is refused naming line and column, as
is an object naming a key twice (which value counts is ambiguous). A JSON string holding a lone surrogate escape
("\\ud800") is not text: its row is dropped (`invalid_text`).

CSV and TSV (and causalqa_csv): the first non-blank line is the header, its names distinct. Fields may be quoted
(a delimiter, "" for a quote, or a newline inside quotes). Every record must have exactly as many fields as the
header: one with more or fewer is refused naming the physical line it starts on, never shifted or padded. Fully
blank lines are skipped. Every cell is text; an empty cell is "".

Columns (generic formats): `columns` maps uniform columns to source fields; dots reach nested fields
(`answers.text`). A mapped field the file lacks, or an unmapped question/context/answer the file lacks under its
own name, is refused listing the fields the file has. An absent unmapped id is derived from a hash of question and
context. A field the file has but that is null or absent on some records is a row problem: a missing answer means
unanswerable, a missing context means none, a missing question or mapped id drops the row.

SQuAD 2.0 JSON: damage above the question level (data, paragraphs or qas not lists) is refused naming its JSON
path. A question that is not an object (`bad_qa`), whose answers are not a list of {"text": string} objects
(`bad_answers`), whose is_impossible is not true/false (`bad_is_impossible`), or whose paragraph's context is not
text (`bad_context`) is dropped and counted. `is_impossible: true` wins over any answers (kept as
`impossible_answers_ignored`).

Answers: several golds share a cell, tab-separated, and `answer` and `answer_processed` always agree on whether a
question is answerable (training reads `answer`, scoring either). CausalQA ships both columns: when `answer` is
empty but `answer_processed` has golds, those golds become `answer` too (kept as `answer_from_processed`); when
`answer` has golds but `answer_processed` is empty, it is recomputed from `answer` (`processed_from_answer`).
A row whose golds all vanish once processed (pure markup such as "<br>") is dropped
(`answer_empty_when_processed`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from t5qa import UNIFORM_COLUMNS
from t5qa.errors import InputError
from t5qa.text import join_answers, process_answers, process_text, split_answers

FORMATS = ("squad_v2_json", "causalqa_csv", "csv", "tsv", "jsonl", "json", "parquet", "hub")
GENERIC_FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "hub")
COLUMNS = ("id", "question", "context", "answer")  # what `columns` may map
MAX_EXAMPLE_IDS = 5  # offending ids quoted per problem in stats and logs
MAX_LISTED_FIELDS = 30  # fields named in a "no such field" error

# Line breaks as Python's csv module counts them; JSON strings cannot hold a raw \r or \n, so JSONL splits here too.
LINE_BREAK = re.compile(r"\r\n|\r|\n")
LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
# A lone surrogate (only JSON's \ud800 escapes make one) is not Unicode text: parquet and hashing would fail on it.
SURROGATE = re.compile("[\ud800-\udfff]")
MISSING = object()  # a field the record does not have (as opposed to one that is null)
DERIVE = object()  # an id to derive from the question and context

Row = tuple[str, dict[str, Any]]  # (where it is in the file, its fields)


# --------------------------------------------------------------------------- reading text


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from err


def _line_at(data: bytes, offset: int) -> int:
    return len(LINE_BREAK_BYTES.findall(data, 0, offset)) + 1


def read_text(path: Path) -> str:
    """The whole file as UTF-8 text, a leading byte-order mark dropped."""
    data = _read_bytes(path)
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = bom + err.start
        utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        hint = "; it looks like UTF-16, save it as UTF-8" if utf16 else ""
        raise InputError(
            f"{path}: line {_line_at(data, offset)}: not UTF-8 (byte 0x{data[offset]:02x} at offset {offset}){hint}"
        ) from err
    if not text.strip():
        raise InputError(f"{path}: empty file")
    return text


# --------------------------------------------------------------------------- CSV and TSV


def read_delimited(path: Path, delimiter: str) -> tuple[list[str], list[Row]]:
    """The header and the records of a CSV/TSV file, each record with the line it starts on."""
    kind = "TSV" if delimiter == "\t" else "CSV"
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    records: list[Row] = []
    # Contexts can be long: lift the csv module's 128 KiB field limit while reading.
    old_limit = csv.field_size_limit(2**31 - 1)
    try:
        while True:
            start = reader.line_num + 1  # a record starts on the line after the previous one ended
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                if "unexpected end of data" in str(err):
                    problem = "a quoted field is never closed (the record starting here runs to the end of the file)"
                else:
                    problem = f"malformed quoting ({err})"
                raise InputError(f"{path}: line {start}: {problem}") from err
            if not fields:
                continue  # a blank line
            if header is None:
                repeated = sorted(name for name, n in Counter(fields).items() if n > 1)
                if repeated:
                    raise InputError(f"{path}: line {start}: the {kind} header repeats the column names {repeated}")
                header = fields
            elif len(fields) != len(header):
                raise InputError(f"{path}: line {start}: {len(fields)} fields, but the header has {len(header)}")
            else:
                records.append((f"line {start}", dict(zip(header, fields))))
    finally:
        csv.field_size_limit(old_limit)
    if header is None:
        raise InputError(f"{path}: empty file (no header line)")
    return header, records


# --------------------------------------------------------------------------- JSON


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object naming a key twice is ambiguous (json would silently keep the last value)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey(next(key for key, n in Counter(key for key, _ in pairs).items() if n > 1))
    return obj


def parse_json(path: Path, text: str, line: int | None = None) -> Any:
    """Parse JSON; an error names the line and column (`line`: the JSONL line that `text` is)."""
    at = f"{path}: line {line}" if line is not None else str(path)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        line = err.lineno if line is None else line
        raise InputError(f"{path}: line {line} column {err.colno}: not valid JSON ({err.msg})") from err
    except _DuplicateKey as err:
        raise InputError(f"{at}: an object names the key {err.args[0]!r} twice (which value is meant?)") from err
    except RecursionError as err:
        raise InputError(f"{at}: JSON nested too deeply to read") from err
    except ValueError as err:  # e.g. an integer too long to convert
        raise InputError(f"{at}: not valid JSON ({err})") from err


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def read_jsonl(path: Path) -> list[Row]:
    records = []
    for number, line in enumerate(LINE_BREAK.split(read_text(path)), 1):
        if line.strip(" \t"):
            records.append((f"line {number}", parse_json(path, line, number)))
    return records


def read_json_records(path: Path) -> list[Row]:
    """A JSON list of records, or an object whose 'data' is one."""
    root = parse_json(path, read_text(path))
    prefix = ""
    if isinstance(root, dict) and isinstance(root.get("data"), list):
        root, prefix = root["data"], "data"
    if not isinstance(root, list):
        raise InputError(
            f"{path}: expected a JSON list of records (or an object with a 'data' list), not {json_type(root)}"
        )
    return [(f"{prefix}[{i}]", record) for i, record in enumerate(root)]


def read_parquet(path: Path) -> list[Row]:
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        records = pq.read_table(path).to_pylist()
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: cannot read as parquet ({message})") from err
    return [(f"row {i}", record) for i, record in enumerate(records, 1)]


# --------------------------------------------------------------------------- problems and oddities


class Tally:
    """Counts dropped rows by reason (keeping the first few ids of each) and kept oddities."""

    def __init__(self, path: Path, strict: bool):
        self.path, self.strict = path, strict
        self.dropped: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.kept: Counter[str] = Counter()

    def drop(self, kind: str, where: str, row_id: Any, detail: str) -> None:
        if isinstance(row_id, int) and not isinstance(row_id, bool):
            row_id = str(row_id)
        # An id that cannot be written as UTF-8 (a lone surrogate) is named by its position instead.
        has_id = isinstance(row_id, str) and row_id.strip() and not SURROGATE.search(row_id)
        if self.strict:
            named = f"{where} (id {row_id!r})" if has_id else where
            raise InputError(f"{self.path}: {named}: {detail}")
        self.dropped[kind] += 1
        examples = self.examples.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLE_IDS:
            examples.append(row_id if has_id else where)

    def dropped_dict(self) -> dict[str, Any]:
        return {k: {"count": n, "first_ids": self.examples[k]} for k, n in sorted(self.dropped.items())}


# --------------------------------------------------------------------------- SQuAD 2.0


def read_squad_v2_json(path: Path, tally: Tally) -> list[Row]:
    """The official SQuAD 2.0 layout: data -> paragraphs -> qas; keeps the official ids."""
    root = parse_json(path, read_text(path))
    if not isinstance(root, dict) or not isinstance(root.get("data"), list):
        raise InputError(f"{path}: not SQuAD 2.0 JSON (expected an object with a 'data' list)")
    rows = []
    for a, article in enumerate(root["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise InputError(f"{path}: data[{a}] has no 'paragraphs' list")
        for p, paragraph in enumerate(paragraphs):
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise InputError(f"{path}: data[{a}].paragraphs[{p}] has no 'qas' list")
            context = paragraph.get("context")
            for q, qa in enumerate(paragraph["qas"]):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                row = _squad_question(qa, context, where, tally)
                if row is not None:
                    rows.append((where, row))
    return rows


def _squad_question(qa: Any, context: Any, where: str, tally: Tally) -> dict[str, Any] | None:
    """One question's fields, or None when it is malformed (dropped and counted)."""
    if not isinstance(qa, dict):
        tally.drop("bad_qa", where, None, f"the question is {json_type(qa)}, not an object")
        return None
    qa_id = qa.get("id")
    if context is not None and not isinstance(context, str):
        tally.drop("bad_context", where, qa_id, f"the paragraph's context is {json_type(context)}, not text")
        return None
    impossible = qa.get("is_impossible")
    if impossible is not None and not isinstance(impossible, bool):
        tally.drop("bad_is_impossible", where, qa_id, f"is_impossible is {json_type(impossible)}, not true/false")
        return None
    answers = [] if qa.get("answers") is None else qa["answers"]
    problem = _squad_answers_problem(answers)
    if problem:
        tally.drop("bad_answers", where, qa_id, problem)
        return None
    texts = [answer["text"] for answer in answers]
    if impossible and join_answers(texts):
        tally.kept["impossible_answers_ignored"] += 1
    return {"id": qa_id, "question": qa.get("question"), "context": context, "answer": [] if impossible else texts}


def _squad_answers_problem(answers: Any) -> str | None:
    """What is wrong with a question's answers, if anything: they must be a list of {"text": string} objects."""
    if not isinstance(answers, list):
        return f"answers is {json_type(answers)}, not a list of {{'text': ...}} objects"
    for i, answer in enumerate(answers):
        if not isinstance(answer, dict):
            return f"answers[{i}] is {json_type(answer)}, not an object"
        if not isinstance(answer.get("text"), str):
            return f"answers[{i}].text is {json_type(answer.get('text'))}, not text"
    return None


# --------------------------------------------------------------------------- column mapping


def get_field(record: Any, dotted: str) -> Any:
    """`answers.text` reaches into nested records (a key that itself contains dots wins); absent is MISSING."""
    if not isinstance(record, dict):
        return MISSING
    if dotted in record:
        return record[dotted]
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def check_mapping(path: Path, fmt: str, columns: Any) -> dict[str, str]:
    if columns is None:
        return {}
    if not isinstance(columns, dict):
        raise InputError(f"{path}: columns must map uniform columns to source fields, not {json_type(columns)}")
    if columns and fmt not in GENERIC_FORMATS:
        raise InputError(f"{path}: columns apply to the generic formats ({', '.join(GENERIC_FORMATS)}), not {fmt}")
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise InputError(f"{path}: columns names {unknown}; it may map only {', '.join(COLUMNS)}")
    bad = [name for name, field in columns.items() if not isinstance(field, str) or not field]
    if bad:
        raise InputError(f"{path}: columns maps {bad} to something that is not a field name")
    return columns


def check_fields(path: Path, mapping: dict[str, str], has_field: Callable[[str], bool], fields: list[str]) -> None:
    """Every mapped field, and every unmapped question/context/answer, must be a field of the file."""
    problems, unmapped = [], []
    for column in COLUMNS:
        field = mapping.get(column, column)
        if has_field(field):
            continue
        if column in mapping:
            problems.append(f"columns maps {column} to {field!r}, which the file does not have")
        elif column != "id":  # an absent id is derived
            unmapped.append(column)
    if unmapped:
        example = ", ".join(f"{column}: YOUR_FIELD" for column in unmapped)
        names = " or ".join(repr(column) for column in unmapped)
        problems.append(f"no field {names} (name the file's own under the source's columns: {{{example}}})")
    if problems:
        listed = ", ".join(repr(f) for f in fields[:MAX_LISTED_FIELDS]) or "none"
        if len(fields) > MAX_LISTED_FIELDS:
            listed += f" and {len(fields) - MAX_LISTED_FIELDS} more"
        raise InputError(f"{path}: {'; '.join(problems)}; the file's fields: {listed}")


def apply_mapping(records: list[Row], mapping: dict[str, str], tally: Tally) -> list[Row]:
    """Rename source fields to uniform columns; an absent unmapped id is derived later from the text."""
    rows = []
    for where, record in records:
        if not isinstance(record, dict):
            tally.drop("bad_record", where, None, f"the record is {json_type(record)}, not an object")
            continue
        row = {column: get_field(record, mapping.get(column, column)) for column in COLUMNS}
        if (row["id"] is MISSING or row["id"] is None) and "id" not in mapping:
            row["id"] = DERIVE
        rows.append((where, row))
    return rows


def derived_id(question: str, context: str) -> str:
    """A stable id for sources without one: a hash of question and context."""
    key = json.dumps([question, context], ensure_ascii=False)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- validation


def _as_answer_list(value: Any) -> list[str] | None:
    if value is None or value is MISSING:
        return []
    if isinstance(value, str):
        return split_answers(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def build_table(
    rows: list[Row], path: Path, tally: Tally, rows_read: int, given_processed: bool = False
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate rows and fill the uniform columns. Returns the table and its stats."""
    seen_ids: set[str] = set()
    out = []
    for where, row in rows:
        record = _uniform_row(where, row, tally, given_processed)
        if record is None:
            continue
        if record["id"] in seen_ids:
            tally.drop("duplicate_id", where, record["id"], "id appears earlier in the file")
            continue
        seen_ids.add(record["id"])
        _count_oddities(record, tally.kept)
        out.append(record)
    table = pd.DataFrame(out, columns=UNIFORM_COLUMNS)
    stats = {
        "input": str(path),
        "rows_read": rows_read,
        "rows_written": len(table),
        "dropped": tally.dropped_dict(),
        "kept": dict(sorted(tally.kept.items())),
    }
    return table, stats


def _uniform_row(where: str, row: dict[str, Any], tally: Tally, given_processed: bool) -> dict[str, str] | None:
    """One row in the uniform columns, or None when it is dropped."""
    row_id = row["id"]
    if isinstance(row_id, int) and not isinstance(row_id, bool):
        row_id = str(row_id)
    if row_id is not DERIVE and (not isinstance(row_id, str) or not row_id.strip()):
        what = "missing" if row_id is MISSING else "empty" if isinstance(row_id, str) else json_type(row_id)
        tally.drop("missing_id", where, None, f"id is {what}, not text")
        return None
    question = None if row["question"] is MISSING else row["question"]
    context = "" if row["context"] is MISSING or row["context"] is None else row["context"]
    answers = _as_answer_list(row["answer"])
    for name, value in (("question", question), ("context", context)):
        if value is not None and not isinstance(value, str):
            tally.drop("non_string_field", where, row_id, f"{name} is {json_type(value)}, not text")
            return None
    if answers is None:
        tally.drop(
            "non_string_field", where, row_id, f"answer is {json_type(row['answer'])}, not text or a list of text"
        )
        return None
    if not question or not question.strip():
        tally.drop("empty_question", where, row_id, "question is missing or empty")
        return None
    # The release's own processed text (CausalQA) where it has some; computed otherwise.
    given = {name: (row.get(name) or "") if given_processed else "" for name in UNIFORM_COLUMNS if "_processed" in name}
    answer = join_answers(answers)
    texts = [question, context, answer, *given.values(), row_id if row_id is not DERIVE else ""]
    if SURROGATE.search("".join(texts)):
        tally.drop("invalid_text", where, row_id, "a field holds a lone surrogate escape (\\ud800-\\udfff), not text")
        return None
    if row_id is DERIVE:
        row_id = derived_id(question, context)
    answer, answer_processed = _agreeing_answers(answer, given["answer_processed"], given_processed, tally)
    if bool(split_answers(answer)) != bool(split_answers(answer_processed)):
        tally.drop("answer_empty_when_processed", where, row_id, f"answer {answer!r} is empty once processed")
        return None
    return {
        "id": row_id,
        "question": question,
        "question_processed": given["question_processed"] or process_text(question),
        "context": context,
        "context_processed": given["context_processed"] or process_text(context),
        "answer": answer,
        "answer_processed": answer_processed,
    }


def _agreeing_answers(answer: str, processed: str, given_processed: bool, tally: Tally) -> tuple[str, str]:
    """`answer` and `answer_processed`, made to agree on answerability (the CausalQA rule, module docstring)."""
    if not given_processed:
        return answer, process_answers(answer)
    has_raw, processed_golds = bool(split_answers(answer)), split_answers(processed)
    if not has_raw and processed_golds:
        tally.kept["answer_from_processed"] += 1
        return join_answers(processed_golds), processed
    if has_raw and not processed_golds:
        processed = process_answers(answer)
        if processed:  # else its golds vanish once processed: the row is dropped
            tally.kept["processed_from_answer"] += 1
    return answer, processed


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
    if fmt not in FORMATS:
        raise InputError(f"{path}: unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    mapping = check_mapping(path, fmt, columns)
    tally = Tally(path, strict)
    if fmt == "squad_v2_json":
        rows = read_squad_v2_json(path, tally)
        return build_table(rows, path, tally, rows_read=len(rows) + tally.dropped.total())
    if fmt == "causalqa_csv":
        header, records = read_delimited(path, ",")
        missing = [c for c in UNIFORM_COLUMNS if c not in header]
        if missing:
            raise InputError(f"{path}: missing columns {missing} (the header has {header})")
        return build_table(records, path, tally, len(records), given_processed=True)

    if fmt in ("csv", "tsv"):
        header, records = read_delimited(path, "," if fmt == "csv" else "\t")
        check_fields(path, mapping, lambda field: field in header, header)
    else:
        reader = {"jsonl": read_jsonl, "json": read_json_records, "parquet": read_parquet, "hub": read_parquet}[fmt]
        records = reader(path)
        objects = [record for _, record in records if isinstance(record, dict)]
        if records and not objects:
            raise InputError(f"{path}: no record is an object (the first is {json_type(records[0][1])})")
        if objects:
            fields = list(dict.fromkeys(key for record in objects for key in record))
            check_fields(path, mapping, lambda field: any(get_field(r, field) is not MISSING for r in objects), fields)
    return build_table(apply_mapping(records, mapping, tally), path, tally, len(records))

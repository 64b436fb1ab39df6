"""The file formats a source can come in, in one registry: `FORMATS` names each one's raw-file extension, its
reader and what its file holds. Nothing else lists format names: the config schema leaves `format` a string,
config_check refuses an unknown one at DAG build and the normalize step when it reads its settings (`get_format`).

A reader reads a whole file exactly or refuses it with one `InputError` line naming the file, where (line, JSON
path) and what. It returns the file's records, each with where it is in the file; normalize (t5qa.data.normalize)
maps them to the uniform columns and validates them.

Encoding: every text format is UTF-8, with or without a byte-order mark (read the same either way). Other bytes
are refused naming the line of the first bad byte. JSON that does not parse is refused naming line and column, as
is an object naming a key twice (which value counts is ambiguous).

CSV and TSV (and causalqa_csv): the first non-blank line is the header, its names distinct. Fields may be quoted
(a delimiter, "" for a quote, or a newline inside quotes). Every record must have exactly as many fields as the
header: one with more or fewer is refused naming the physical line it starts on, never shifted or padded. Fully
blank lines are skipped. Every cell is text; an empty cell is "".

SQuAD 2.0 JSON: damage above the question level (data, paragraphs or qas not lists) is refused naming its JSON
path. A question that is not an object (`bad_qa`), whose answers are not a list of {"text": string} objects
(`bad_answers`), whose is_impossible is not true/false (`bad_is_impossible`), whose paragraph's context is not
text (`bad_context`), or that is marked answerable (`is_impossible: false`) but has no answer text
(`answerable_without_answers`) is dropped and counted. `is_impossible: true` wins over any answers (kept as
`impossible_answers_ignored`).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from t5qa import UNIFORM_COLUMNS
from t5qa.data.text_files import (
    LINE_BREAK,
    SURROGATE,
    Records,
    json_type,
    parse_json,
    read_delimited,
    read_text,
)
from t5qa.errors import InputError
from t5qa.text import join_answers

MAX_EXAMPLE_IDS = 5  # offending ids quoted per problem in stats and logs


@dataclass(frozen=True)
class Format:
    name: str
    extension: str  # of the raw file the download step saves
    read: Callable[[Path, Tally], Records]
    # The file's own field names, mapped to the uniform columns by the source's `columns` (the generic formats).
    takes_columns: bool = False
    # The file has its own *_processed columns, kept as they are instead of computed.
    ships_processed: bool = False
    # The uniform columns the file must have as fields (under their own names, or mapped ones).
    needs: tuple[str, ...] = ()


# --------------------------------------------------------------------------- problems and oddities


class Tally:
    """Counts dropped rows by reason (keeping the first few ids of each) and kept oddities."""

    def __init__(self, path: Path, strict: bool):
        self.path, self.strict = path, strict
        self.dropped: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.kept: Counter[str] = Counter()
        self.suspect_examples: dict[str, list[str]] = {}  # kept rows worth a warning: their first ids

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

    def suspect(self, kind: str, where: str, row_id: Any, detail: str) -> None:
        """A row kept as read but likely not what the file meant (e.g. a record without the answer field, read as
        unanswerable): counted under `kind` among the kept, its first ids logged; refused when `strict`."""
        has_id = isinstance(row_id, str) and row_id.strip() and not SURROGATE.search(row_id)
        if self.strict:
            named = f"{where} (id {row_id!r})" if has_id else where
            raise InputError(f"{self.path}: {named}: {detail} (strict: true refuses it)")
        self.kept[kind] += 1
        examples = self.suspect_examples.setdefault(kind, [])
        if len(examples) < MAX_EXAMPLE_IDS:
            examples.append(row_id if has_id else where)

    def dropped_dict(self) -> dict[str, Any]:
        return {k: {"count": n, "first_ids": self.examples[k]} for k, n in sorted(self.dropped.items())}


# Every reader takes the tally; only SQuAD's drops rows while reading.


def read_csv(path: Path, tally: Tally) -> Records:
    return read_delimited(path, ",")


def read_tsv(path: Path, tally: Tally) -> Records:
    return read_delimited(path, "\t")


# --------------------------------------------------------------------------- JSON


def read_jsonl(path: Path, tally: Tally) -> Records:
    records = []
    for number, line in enumerate(LINE_BREAK.split(read_text(path)), 1):
        if line.strip(" \t"):
            records.append((f"line {number}", parse_json(path, line, number)))
    return Records(records)


def read_json_records(path: Path, tally: Tally) -> Records:
    """A JSON list of records, or an object whose 'data' is one."""
    root = parse_json(path, read_text(path))
    prefix = ""
    if isinstance(root, dict) and isinstance(root.get("data"), list):
        root, prefix = root["data"], "data"
    if not isinstance(root, list):
        raise InputError(
            f"{path}: expected a JSON list of records (or an object with a 'data' list), not {json_type(root)}"
        )
    return Records([(f"{prefix}[{i}]", record) for i, record in enumerate(root)])


# --------------------------------------------------------------------------- parquet


def read_parquet(path: Path, tally: Tally) -> Records:
    import pyarrow.parquet as pq  # not at the top: config_check and the rules import the registry at DAG build

    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        records = pq.read_table(path).to_pylist()
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: cannot read as parquet ({message})") from err
    return Records([(f"row {i}", record) for i, record in enumerate(records, 1)])


# --------------------------------------------------------------------------- SQuAD 2.0


def read_squad_v2_json(path: Path, tally: Tally) -> Records:
    """The official SQuAD 2.0 layout: data -> paragraphs -> qas; one record per question, keyed by uniform column
    (id, question, context, answer: a list of golds), with the official ids."""
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
    return Records(rows)


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
    if impossible is False and not join_answers(texts):
        # Marked answerable, yet no answer: reading it as unanswerable would turn it around silently.
        tally.drop("answerable_without_answers", where, qa_id, "is_impossible is false but the question has no answer")
        return None
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


# --------------------------------------------------------------------------- the registry

# Any field names, mapped by the source's `columns`; an absent id is derived from a hash of question and context.
GENERIC = {"takes_columns": True, "needs": ("question", "context", "answer")}

FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        # Fixed layouts: their own field names, no `columns`.
        Format("squad_v2_json", "json", read_squad_v2_json),  # its reader checks the layout
        Format("causalqa_csv", "csv", read_csv, ships_processed=True, needs=tuple(UNIFORM_COLUMNS)),
        Format("csv", "csv", read_csv, **GENERIC),
        Format("tsv", "tsv", read_tsv, **GENERIC),
        Format("jsonl", "jsonl", read_jsonl, **GENERIC),
        Format("json", "json", read_json_records, **GENERIC),  # a list of records
        Format("parquet", "parquet", read_parquet, **GENERIC),
        Format("hub", "parquet", read_parquet, **GENERIC),  # the download step saves a hub split as parquet
    )
}


def get_format(name: Any, where: str) -> Format:
    """The registry's record of `name`; an unknown name fails with one line, suggesting the closest and listing all."""
    if isinstance(name, str) and name in FORMATS:
        return FORMATS[name]
    close = difflib.get_close_matches(name, list(FORMATS), n=1) if isinstance(name, str) else []
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InputError(f"{where}: unknown format {name!r}{hint}; the formats are {', '.join(FORMATS)}")

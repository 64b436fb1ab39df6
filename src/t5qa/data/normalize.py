"""Turn any supported source into the uniform table, reading every input exactly or refusing it.

How each file format is read, and what is refused while reading it: t5qa.data.formats. Here the records a reader
returns become the uniform table. Structural problems raise one `InputError` line naming the file and what: a
column mapping naming a field the file lacks, a fixed-layout file without its columns. Row problems (empty
question, duplicate id, a wrong-typed field) drop the row and count it in the stats with its id (or its position
when it has none), or fail naming it when `strict`. Legitimate oddities (no context, abstractive answers) are kept
and counted. A JSON string holding a lone surrogate escape ("\\ud800") is not text: its row is dropped
(`invalid_text`).

Columns (generic formats): `columns` maps uniform columns to source fields; dots reach nested fields
(`answers.text`). A mapped field the file lacks, or an unmapped question/context/answer the file lacks under its
own name, is refused listing the fields the file has. An absent unmapped id is derived from a hash of question and
context. A field the file has but that is null or absent on some records is a row problem: a null answer means
unanswerable, a missing context means none, a missing question or mapped id drops the row. A record that lacks the
answer field altogether (while others have it) is kept as unanswerable but counted (`answer_field_absent`, with a
warning naming its first ids), and refused when `strict`.

Answers: several golds share a cell, tab-separated, and `answer` and `answer_processed` always agree on whether a
question is answerable (training reads `answer`, scoring either). CausalQA ships both columns; its `answer` cell is
kept as stored (a blank between tabs included: the paper's measures score every piece, t5qa.evaluate.causalqa_measures).
When `answer` is empty but `answer_processed` has golds, those golds become `answer` too (kept as
`answer_from_processed`); when `answer` has golds but `answer_processed` is empty, it is recomputed from `answer`
(`processed_from_answer`).
A row whose golds all vanish once processed (pure markup such as "<br>") is dropped
(`answer_empty_when_processed`).

Holdout: a source without a validation file has both its tables carved out of its train file by a hash of the id
(t5qa.data.sources decides which split gets which part).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from t5qa import UNIFORM_COLUMNS
from t5qa.data.columns import DERIVE, MISSING, apply_mapping, check_fields, check_mapping, derived_id
from t5qa.data.formats import Tally, get_format
from t5qa.data.text_files import SURROGATE, Row, json_type
from t5qa.errors import InputError
from t5qa.settings import NormalizeSettings
from t5qa.text import join_answers, process_answers, process_text, split_answers

CHUNK_ROWS = 100_000  # rows of a file normalised (and written) at a time by write_normalized


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
    rows: Iterable[Row], path: Path, tally: Tally, rows_read: int, given_processed: bool = False
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate rows and fill the uniform columns. Returns the table and its stats."""
    table = pd.DataFrame(list(uniform_rows(rows, tally, given_processed)), columns=UNIFORM_COLUMNS)
    return table, table_stats(path, tally, rows_read, len(table))


def uniform_rows(rows: Iterable[Row], tally: Tally, given_processed: bool = False) -> Iterator[dict[str, str]]:
    """The rows that are kept, validated and in the uniform columns, as they are consumed (the ids seen so far are
    all this holds: a later repeat of an id is dropped)."""
    seen_ids: set[str] = set()
    for where, row in rows:
        record = _uniform_row(where, row, tally, given_processed)
        if record is None:
            continue
        if record["id"] in seen_ids:
            tally.drop("duplicate_id", where, record["id"], "id appears earlier in the file")
            continue
        seen_ids.add(record["id"])
        if row["answer"] is MISSING:
            # Other records have the answer field and this one lacks it: likely a typo in the file, not "unanswerable".
            tally.suspect(
                "answer_field_absent", where, record["id"], "no answer field; it would be read as unanswerable"
            )
        _count_oddities(record, tally.kept)
        yield record


def table_stats(path: Path, tally: Tally, rows_read: int, rows_written: int) -> dict[str, Any]:
    """The stats file's counts (before any holdout)."""
    stats = {
        "input": str(path),
        "rows_read": rows_read,
        "rows_written": rows_written,
        "dropped": tally.dropped_dict(),
        "kept": dict(sorted(tally.kept.items())),
    }
    if tally.suspect_examples:
        stats["kept_first_ids"] = {kind: ids for kind, ids in sorted(tally.suspect_examples.items())}
    return stats


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
    if given_processed and answer and isinstance(row["answer"], str):
        answer = row["answer"]  # the cell as stored: the paper's measures split it on tabs, blanks and all
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


def hold_out(table: pd.DataFrame, stats: dict[str, Any], fraction: float, part: str) -> pd.DataFrame:
    """The held-out rows (part "validation") or the rest ("train"), noted in the stats."""
    table = held_part(table, fraction, part)
    stats["holdout"] = {"fraction": fraction, "part": part, "rows": len(table)}
    return table


def held_part(table: pd.DataFrame, fraction: float, part: str) -> pd.DataFrame:
    """hold_out's rows, without the stats: a row's part depends on its id alone, so a table split into chunks gives
    the same rows chunk by chunk."""
    held_out = holdout_mask(table["id"], fraction)
    return table[held_out if part == "validation" else ~held_out].reset_index(drop=True)


# --------------------------------------------------------------------------- entry point


def normalize_file(path: str | Path, settings: NormalizeSettings) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The uniform table of one file and its stats; with `settings.holdout`, only that part of its rows."""
    stats: dict[str, Any] = {}
    frames = list(normalize_chunks(path, settings, stats, chunk_rows=None))
    table = frames[0] if len(frames) == 1 else pd.DataFrame([], columns=UNIFORM_COLUMNS)
    return table, stats


def normalize_chunks(
    path: str | Path, settings: NormalizeSettings, stats: dict[str, Any], chunk_rows: int | None = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """normalize_file's table in frames of the rows kept from `chunk_rows` rows of the file at a time (None: one
    frame of them all), so that a streamed file (CSV, TSV: t5qa.data.text_files.read_delimited) is never held whole; the
    frames hold the same rows in the same order as the one table. The file is read and checked before the first
    frame (a malformed file fails first); `stats` is filled in once the last frame is consumed."""
    path = Path(path)
    fmt = get_format(settings.format, "--settings")  # the schema leaves format a string: checked here
    mapping = check_mapping(path, fmt, settings.columns)
    tally = Tally(path, settings.strict)
    records = fmt.read(path, tally)
    count = len(records.rows) if records.count is None else records.count
    rows_read = count + tally.dropped.total()  # the SQuAD reader has dropped malformed questions
    if fmt.takes_columns:
        check_fields(path, mapping, fmt.needs, records)
        rows = apply_mapping(records.rows, mapping, tally)
    else:
        missing = [column for column in fmt.needs if column not in records.header]
        if missing:
            raise InputError(f"{path}: missing columns {missing} (the header has {records.header})")
        rows = records.rows
    return _chunks(path, settings, stats, uniform_rows(rows, tally, fmt.ships_processed), tally, rows_read, chunk_rows)


def _chunks(path, settings, stats, uniform, tally, rows_read, chunk_rows) -> Iterator[pd.DataFrame]:
    written = kept = 0
    holdout = settings.holdout
    chunks = [list(uniform)] if chunk_rows is None else iter(lambda: list(itertools.islice(uniform, chunk_rows)), [])
    for chunk in chunks:
        frame = pd.DataFrame(chunk, columns=UNIFORM_COLUMNS)
        written += len(frame)
        if holdout is not None:
            frame = held_part(frame, holdout["fraction"], holdout["part"])
        kept += len(frame)
        yield frame
    stats.update(table_stats(path, tally, rows_read, written))
    if holdout is not None:
        stats["holdout"] = {"fraction": holdout["fraction"], "part": holdout["part"], "rows": kept}


def write_normalized(
    path: str | Path, settings: NormalizeSettings, output: Path, chunk_rows: int | None = CHUNK_ROWS
) -> tuple[int, dict[str, Any]]:
    """normalize_file's table written to `output` (parquet, as `DataFrame.to_parquet(index=False)` writes it) one
    chunk at a time (normalize_chunks): the rows written and the stats. A table of at most `chunk_rows` rows gives
    the same bytes as writing normalize_file's table; a longer one the same rows, in one row group per chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stats: dict[str, Any] = {}
    writer, rows = None, 0
    try:
        for frame in normalize_chunks(path, settings, stats, chunk_rows):
            if frame.empty:
                continue  # (its columns would have no type)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(output, table.schema, compression="snappy")
            writer.write_table(table)
            rows += len(table)
    finally:
        if writer is not None:
            writer.close()
    return rows, stats

"""A source's own fields mapped to the uniform columns (`columns: {question: query, answer: answers.text}`): the
mapping checked against the format and the file's fields before any row is read, dotted paths into nested records,
and the id derived from the question and context where a source has none."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from t5qa.data.formats import FORMATS, Format, Tally
from t5qa.data.text_files import Records, Row, json_type
from t5qa.errors import InputError

COLUMNS = ("id", "question", "context", "answer")  # what `columns` may map
MAX_LISTED_FIELDS = 30  # fields named in a "no such field" error
MISSING = object()  # a field the record does not have (as opposed to one that is null)
DERIVE = object()  # an id to derive from the question and context


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


def check_mapping(path: Path, fmt: Format, columns: Any) -> dict[str, str]:
    if columns is None:
        return {}
    if not isinstance(columns, dict):
        raise InputError(f"{path}: columns must map uniform columns to source fields, not {json_type(columns)}")
    if columns and not fmt.takes_columns:
        generic = ", ".join(name for name, other in FORMATS.items() if other.takes_columns)
        raise InputError(f"{path}: columns apply to the generic formats ({generic}), not {fmt.name}")
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise InputError(f"{path}: columns names {unknown}; it may map only {', '.join(COLUMNS)}")
    bad = [name for name, field in columns.items() if not isinstance(field, str) or not field]
    if bad:
        raise InputError(f"{path}: columns maps {bad} to something that is not a field name")
    return columns


def check_fields(path: Path, mapping: dict[str, str], needs: tuple[str, ...], records: Records) -> None:
    """Every mapped field, and every needed column left unmapped, must be a field of the file: a column of a CSV/TSV
    header, or a field some record has (an absent id is derived)."""
    wanted = {column: mapping.get(column, column) for column in COLUMNS}
    if records.header is not None:
        fields = records.header
        present = {field for field in wanted.values() if field in fields}
    else:
        objects = [record for _, record in records.rows if isinstance(record, dict)]
        if records.rows and not objects:
            raise InputError(f"{path}: no record is an object (the first is {json_type(records.rows[0][1])})")
        if not objects:
            return  # no records: nothing to map
        fields = list(dict.fromkeys(key for record in objects for key in record))
        present = {field for field in wanted.values() if any(get_field(r, field) is not MISSING for r in objects)}
    problems, unmapped = [], []
    for column, field in wanted.items():
        if field in present:
            continue
        if column in mapping:
            problems.append(f"columns maps {column} to {field!r}, which the file does not have")
        elif column in needs:
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


def apply_mapping(records: Iterable[Row], mapping: dict[str, str], tally: Tally) -> Iterable[Row]:
    """Rename source fields to uniform columns; an absent unmapped id is derived later from the text. Records read
    whole (a list) are mapped at once, so a bad record counts (or, strict, fails) before any row problem; streamed
    ones (an iterator: CSV/TSV, whose records are always objects) as they are consumed."""
    rows = _mapped(records, mapping, tally)
    return list(rows) if isinstance(records, list) else rows


def _mapped(records: Iterable[Row], mapping: dict[str, str], tally: Tally) -> Iterator[Row]:
    for where, record in records:
        if not isinstance(record, dict):
            tally.drop("bad_record", where, None, f"the record is {json_type(record)}, not an object")
            continue
        row = {column: get_field(record, mapping.get(column, column)) for column in COLUMNS}
        if (row["id"] is MISSING or row["id"] is None) and "id" not in mapping:
            row["id"] = DERIVE
        yield where, row


def derived_id(question: str, context: str) -> str:
    """A stable id for sources without one: a hash of question and context."""
    key = json.dumps([question, context], ensure_ascii=False)
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]

"""Text files read exactly, as every reader of t5qa.data.formats (and `t5qa ask`) reads them: UTF-8 with or without
a byte-order mark, other bytes refused naming the line of the first bad byte; delimited records held to their
header's field count, streamed; JSON refused naming line and column when it does not parse or names a key twice."""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from t5qa.errors import InputError

# Line breaks as Python's csv module counts them; JSON strings cannot hold a raw \r or \n, so JSONL splits here too.
LINE_BREAK = re.compile(r"\r\n|\r|\n")
LINE_BREAK_BYTES = re.compile(rb"\r\n|\r|\n")
# A lone surrogate (only JSON's \ud800 escapes make one) is not Unicode text: parquet and hashing would fail on it.
SURROGATE = re.compile("[\ud800-\udfff]")

Row = tuple[str, Any]  # (where it is in the file, the record as read)


class Records(NamedTuple):
    """What a reader returns: the records, and the header of a CSV/TSV file (None where each record names its own
    fields). The CSV/TSV reader streams: its `rows` is an iterator, to be consumed once, and `count` their number;
    the other readers return a list (`count` None)."""

    rows: list[Row] | Iterator[Row]
    header: list[str] | None = None
    count: int | None = None


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


def decode_utf8(data: bytes, where) -> str:
    """Bytes as UTF-8 text, a leading byte-order mark dropped; anything else is refused naming the line and byte."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = bom + err.start
        utf16 = data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
        hint = "; it looks like UTF-16, save it as UTF-8" if utf16 else ""
        raise InputError(
            f"{where}: line {_line_at(data, offset)}: not UTF-8 (byte 0x{data[offset]:02x} at offset {offset}){hint}"
        ) from err


def read_text(path: Path) -> str:
    """The whole file as UTF-8 text, a leading byte-order mark dropped."""
    text = decode_utf8(_read_bytes(path), path)
    if not text.strip():
        raise InputError(f"{path}: empty file")
    return text


# --------------------------------------------------------------------------- CSV and TSV

TEXT_BLOCK = 1 << 22  # bytes decoded at a time when a file is checked without holding it whole


def check_text(path: Path) -> None:
    """What `read_text` refuses (no file, not UTF-8, nothing but whitespace), found while holding one block of the
    file at a time: a file is read whole only to name the line of a bad byte."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    decoder, has_text = codecs.getincrementaldecoder("utf-8")(), False
    try:
        with open(path, "rb") as stream:
            block = stream.read(TEXT_BLOCK)
            block = block[len(codecs.BOM_UTF8) :] if block.startswith(codecs.BOM_UTF8) else block
            while block:
                text = decoder.decode(block)  # every block, so that a bad byte anywhere is found
                has_text = has_text or bool(text.strip())
                block = stream.read(TEXT_BLOCK)
            has_text = bool(decoder.decode(b"", final=True).strip()) or has_text
    except UnicodeDecodeError:
        read_text(path)  # names the line and the byte
        raise
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from err
    if not has_text:
        raise InputError(f"{path}: empty file")


@contextlib.contextmanager
def _long_fields() -> Iterator[None]:
    """Contexts can be long: lift the csv module's 128 KiB field limit while reading."""
    old_limit = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old_limit)


def delimited_records(stream: TextIO, where: Any, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank record of a CSV/TSV stream with the line it starts on, the header first: a malformed record, a
    header naming a column twice and a record with more or fewer fields than the header are refused, naming the line.
    The stream is read as it is consumed (opened with newline="", so that quoted line breaks count)."""
    kind = "TSV" if delimiter == "\t" else "CSV"
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    with _long_fields():  # contexts can be long
        while True:
            start = reader.line_num + 1  # a record starts on the line after the previous one ended
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                if "unexpected end of data" in str(err):
                    problem = "a quoted field is never closed (the record starting here runs to the end of the file)"
                else:
                    problem = f"malformed quoting ({err})"
                raise InputError(f"{where}: line {start}: {problem}") from err
            if not fields:  # a blank line
                continue
            if header is None:
                repeated = sorted(name for name, n in Counter(fields).items() if n > 1)
                if repeated:
                    raise InputError(f"{where}: line {start}: the {kind} header repeats the column names {repeated}")
                header = fields
            elif len(fields) != len(header):
                raise InputError(f"{where}: line {start}: {len(fields)} fields, but the header has {len(header)}")
            yield start, fields


def read_delimited(path: Path, delimiter: str) -> Records:
    """The header and the records of a CSV/TSV file, each record with the line it starts on. The whole file is
    checked first (encoding, quoting, field counts), holding one record at a time; the records are then read again
    as they are consumed (`Records.rows` is an iterator, `Records.count` their number), so a caller that consumes them
    one by one never holds the file."""
    check_text(path)
    header: list[str] | None = None
    count = -1  # the header is not a record
    with open(path, encoding="utf-8-sig", newline="") as stream:
        for _, fields in delimited_records(stream, path, delimiter):
            header = header or fields
            count += 1
    if header is None:
        raise InputError(f"{path}: empty file (no header line)")

    def rows(header: list[str] = header) -> Iterator[Row]:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            records = delimited_records(stream, path, delimiter)
            next(records)  # the header
            for start, fields in records:
                yield f"line {start}", dict(zip(header, fields))

    return Records(rows(), header, count)


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

"""Generated inputs for normalize: every run ends in a lossless table or in one InputError line, nothing else."""

import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from t5qa import UNIFORM_COLUMNS
from t5qa.data.formats import FORMATS
from t5qa.data.normalize import normalize_file
from t5qa.errors import InputError
from t5qa.settings import NormalizeSettings
from t5qa.text import process_text, split_answers

from .conftest import REPO, SCRIPTS

# Bounded so the file runs in seconds; T5QA_FUZZ_EXAMPLES=5000 searches harder.
EXAMPLES = int(os.environ.get("T5QA_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BOM = "\ufeff"
LINE_BREAK = re.compile(r"\r\n|\r|\n")
# The text formats `render` writes (with parquet and hub, which read the same files, every registered format).
TEXT_FORMATS = ("csv", "tsv", "causalqa_csv", "jsonl", "json", "squad_v2_json")

# Text with the characters that break naive readers mixed in: delimiters, quotes, line breaks, a BOM, NUL.
TRICKY = st.sampled_from([",", '"', '""', "\n", "\r\n", "\r", "\t", BOM, "\u2028", "\x85", "\x00", " ", "é", "<b>"])
text = st.lists(st.text(st.characters(exclude_categories=("Cs",)), max_size=6) | TRICKY, max_size=6).map("".join)
question = text.filter(lambda s: s.strip())
# A gold answer as the table keeps it: no tab (the separator), no outer space, something left once processed.
gold = text.map(lambda s: s.replace("\t", " ").strip()).filter(lambda s: s and process_text(s))
golds = st.lists(gold, max_size=3, unique=True)


@st.composite
def records(draw, min_size=1):
    """Well-formed rows: distinct ids, a question, a context, distinct golds (none: unanswerable)."""
    ids = draw(st.lists(text.filter(lambda s: s.strip()), min_size=min_size, max_size=6, unique=True))
    return [{"id": i, "question": draw(question), "context": draw(text), "golds": draw(golds)} for i in ids]


# --------------------------------------------------------------------------- writers


def write_delimited(rows: list[list[str]], sep: str, bom: bool, crlf: bool) -> str:
    out = io.StringIO(newline="")
    # With "\n" ends csv.writer leaves a lone "\r" unquoted, so quote every field then.
    quoting = csv.QUOTE_MINIMAL if crlf else csv.QUOTE_ALL
    csv.writer(out, delimiter=sep, lineterminator="\r\n" if crlf else "\n", quoting=quoting).writerows(rows)
    return (BOM if bom else "") + out.getvalue()


def render(fmt: str, rows: list[dict], draw_flag) -> str:
    """One well-formed file of `rows` in `fmt` (draw_flag picks among equivalent spellings)."""
    bom = draw_flag()
    if fmt in ("csv", "tsv"):
        table = [["id", "question", "context", "answer"]]
        table += [[r["id"], r["question"], r["context"], "\t".join(r["golds"])] for r in rows]
        return write_delimited(table, "," if fmt == "csv" else "\t", bom, draw_flag())
    if fmt == "causalqa_csv":
        table = [UNIFORM_COLUMNS]
        for r in rows:
            answer = "\t".join(r["golds"])
            table.append([r["id"], r["question"], "q", r["context"], "c", answer, answer.lower() if answer else ""])
        return write_delimited(table, ",", bom, draw_flag())
    as_ascii = draw_flag()
    plain = [
        {"id": r["id"], "question": r["question"], "context": r["context"], "answer": r["golds"]}
        if draw_flag()
        else {"id": r["id"], "question": r["question"], "context": r["context"], "answer": "\t".join(r["golds"])}
        for r in rows
    ]
    if fmt == "jsonl":
        body = "\n".join(json.dumps(r, ensure_ascii=as_ascii) for r in plain) + "\n"
    elif fmt == "json":
        body = json.dumps(plain, ensure_ascii=as_ascii, indent=1 if draw_flag() else None)
    else:
        qas = [
            {"id": r["id"], "question": r["question"], "answers": [{"text": g} for g in r["golds"]]}
            | ({"is_impossible": not r["golds"]} if draw_flag() else {})
            for r in rows
        ]
        paragraphs = [{"context": r["context"], "qas": [qa]} for r, qa in zip(rows, qas)]
        body = json.dumps({"version": "v2.0", "data": [{"paragraphs": paragraphs}]}, ensure_ascii=as_ascii)
    return (BOM if bom else "") + body


def settings_for(fmt: str, columns: dict | None = None, strict: bool = False) -> NormalizeSettings:
    """The step's settings, checked as the script checks its --settings (no columns: {})."""
    return NormalizeSettings.from_dict({"format": fmt, "columns": columns or {}, "strict": strict})


def check_table(table: pd.DataFrame, stats: dict) -> None:
    """What every table normalize returns must satisfy, whatever it was made from."""
    assert list(table.columns) == UNIFORM_COLUMNS
    assert all(isinstance(v, str) for column in UNIFORM_COLUMNS for v in table[column])
    assert table["id"].is_unique and len(table) == stats["rows_written"]
    # Every row read is either written or dropped and counted: nothing vanishes silently.
    assert stats["rows_read"] == stats["rows_written"] + sum(d["count"] for d in stats["dropped"].values())
    for answer, processed in zip(table["answer"], table["answer_processed"]):
        assert bool(split_answers(answer)) == bool(split_answers(processed))
    json.dumps(stats, ensure_ascii=False).encode("utf-8")  # the stats file can be written


def table_or_input_error(path: Path, fmt: str, columns=None, strict=False):
    """Run normalize; anything but a table or a one-line InputError naming the file fails the test."""
    try:
        table, stats = normalize_file(path, settings_for(fmt, columns, strict))
    except InputError as err:
        assert str(err).startswith(f"{path}: "), str(err)
        assert "\n" not in str(err) and "\r" not in str(err), str(err)
        return None
    check_table(table, stats)
    return table


def write_file(folder: str, fmt: str, data: bytes | str) -> Path:
    path = Path(folder) / f"input.{FORMATS[fmt].extension}"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_every_registered_format_is_fuzzed():
    assert {*TEXT_FORMATS, "parquet", "hub"} == set(FORMATS)
    assert FORMATS["hub"].read is FORMATS["parquet"].read


# --------------------------------------------------------------------------- lossless round trips


@FUZZ
@given(fmt=st.sampled_from((*TEXT_FORMATS, "parquet")), rows=records(), data=st.data())
def test_well_formed_files_read_back_exactly(fmt, rows, data):
    with tempfile.TemporaryDirectory() as folder:
        if fmt == "parquet":
            path = Path(folder) / "input.parquet"
            frame = [
                {"id": r["id"], "question": r["question"], "context": r["context"], "answer": r["golds"]} for r in rows
            ]
            pd.DataFrame(frame).to_parquet(path)
        else:
            path = write_file(folder, fmt, render(fmt, rows, lambda: data.draw(st.booleans())))
        table, stats = normalize_file(path, settings_for(fmt))
    check_table(table, stats)
    assert stats["dropped"] == {}
    assert table["id"].tolist() == [r["id"] for r in rows]
    assert table["question"].tolist() == [r["question"] for r in rows]
    assert table["context"].tolist() == [r["context"] for r in rows]
    assert table["answer"].tolist() == ["\t".join(r["golds"]) for r in rows]


@FUZZ
@given(rows=records(), sep=st.sampled_from([",", "\t"]), bom=st.booleans(), crlf=st.booleans(), data=st.data())
def test_wrong_field_counts_name_the_physical_line(rows, sep, bom, crlf, data):
    """Rows given one to three fields too few or too many: refused at the line the first one starts on."""
    header = ["qid", "query", "passage", "gold"]
    table = [header] + [[r["id"], r["question"], r["context"], "\t".join(r["golds"])] for r in rows]
    first_bad = None
    for number in range(1, len(table)):
        delta = data.draw(st.sampled_from([0, 0, 0, -3, -2, -1, 1, 2]), label=f"delta of row {number}")
        if delta:
            table[number] = (
                table[number][:delta]
                if delta < 0
                else table[number] + data.draw(st.lists(text, min_size=delta, max_size=delta))
            )
            first_bad = first_bad or number
    text_out = write_delimited(table, sep, bom, crlf)
    fmt = "csv" if sep == "," else "tsv"
    mapping = {"id": "qid", "question": "query", "context": "passage", "answer": "gold"}
    with tempfile.TemporaryDirectory() as folder:
        path = write_file(folder, fmt, text_out)
        if first_bad is None:
            read, _ = normalize_file(path, settings_for(fmt, mapping))
            assert read[["id", "question", "context"]].values.tolist() == [[r[0], r[1], r[2]] for r in table[1:]]
            assert read["answer"].tolist() == [r[3] for r in table[1:]]
            return
        # The line a record starts on: one more than the line breaks written before it.
        before = write_delimited(table[:first_bad], sep, False, crlf)
        line = len(LINE_BREAK.findall(before)) + 1
        try:
            normalize_file(path, settings_for(fmt, mapping))
        except InputError as err:
            assert str(err) == f"{path}: line {line}: {len(table[first_bad])} fields, but the header has 4"
        else:
            raise AssertionError("a row with the wrong number of fields was accepted")


# --------------------------------------------------------------------------- damaged files


@st.composite
def damaged(draw, formats=TEXT_FORMATS):
    """A well-formed file, then cut, spliced with junk, a byte flipped, a range dropped or a line doubled."""
    fmt = draw(st.sampled_from(formats))
    data = render(fmt, draw(records()), lambda: draw(st.booleans())).encode("utf-8")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["cut", "insert", "flip", "drop", "double_line"]))
        if how == "cut":
            data = data[:at]
        elif how == "insert":
            junk = draw(
                st.binary(max_size=8) | st.sampled_from([b",", b'"', b"\t", b"\n", b"\xff", b"{", b"]", b"\xc3"])
            )
            data = data[:at] + junk + data[at:]
        elif how == "flip" and at < len(data):
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif how == "drop":
            data = data[:at] + data[at + draw(st.integers(1, 20)) :]
        elif how == "double_line":
            lines = data.split(b"\n")
            k = draw(st.integers(0, len(lines) - 1))
            data = b"\n".join(lines[: k + 1] + lines[k:])
    return fmt, data


@FUZZ
@given(case=damaged(), strict=st.booleans())
def test_damaged_files_end_in_a_table_or_an_input_error(case, strict):
    fmt, data = case
    with tempfile.TemporaryDirectory() as folder:
        table_or_input_error(write_file(folder, fmt, data), fmt, strict=strict)


@FUZZ
@given(fmt=st.sampled_from((*TEXT_FORMATS, "parquet")), data=st.binary(max_size=400))
def test_random_bytes_end_in_a_table_or_an_input_error(fmt, data):
    with tempfile.TemporaryDirectory() as folder:
        table_or_input_error(write_file(folder, fmt, data), fmt)


# JSON values of every type, with the keys the readers look for, nested a few levels.
KEYS = st.sampled_from(["id", "question", "context", "answer", "answers", "text", "is_impossible", "qas", "data", "x"])
scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text | st.just("\ud800")
json_value = st.recursive(
    scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12
)


def mostly(good, bad=json_value, odds=3):
    """Usually (`odds` to 1) the well-formed value, else any JSON value (one_of would pick each half the time)."""
    return st.sampled_from([True] * odds + [False]).flatmap(lambda ok: good if ok else bad)


answer_like = mostly(st.fixed_dictionaries({"text": mostly(gold)}, optional={"answer_start": json_value}))
qa_like = mostly(
    st.fixed_dictionaries(
        {"id": mostly(text.filter(str.strip)), "question": mostly(question)},
        optional={"answers": mostly(st.lists(answer_like, max_size=3)), "is_impossible": mostly(st.booleans())},
    )
)
# Damage above the questions fails the whole file, so it comes less often than damage to one question.
paragraph_like = mostly(
    st.fixed_dictionaries({"context": mostly(text), "qas": mostly(st.lists(qa_like, max_size=4), odds=12)}), odds=12
)
article_like = mostly(
    st.fixed_dictionaries({"paragraphs": mostly(st.lists(paragraph_like, max_size=3), odds=12)}), odds=12
)
squad_like = mostly(st.fixed_dictionaries({"data": mostly(st.lists(article_like, max_size=3), odds=12)}), odds=12)
record_like = mostly(
    st.fixed_dictionaries(
        {},
        optional={
            "id": mostly(text),
            "question": mostly(question),
            "context": mostly(text),
            "answer": mostly(golds | text),
            "answers": mostly(st.fixed_dictionaries({"text": golds})),
            "x": json_value,
        },
    )
)
mapping_like = st.none() | st.dictionaries(
    st.sampled_from(["id", "question", "context", "answer"]),
    st.sampled_from(["id", "question", "x", "answers.text", "text", "data.x"]),
    max_size=3,
)


@FUZZ
@given(root=squad_like, strict=st.booleans())
def test_wrong_shapes_of_squad_end_in_a_table_or_an_input_error(root, strict):
    with tempfile.TemporaryDirectory() as folder:
        table_or_input_error(write_file(folder, "squad_v2_json", json.dumps(root)), "squad_v2_json", strict=strict)


@FUZZ
@given(fmt=st.sampled_from(["json", "jsonl"]), rows=st.lists(record_like, max_size=5), columns=mapping_like)
def test_wrong_shapes_of_records_end_in_a_table_or_an_input_error(fmt, rows, columns):
    text_out = json.dumps(rows) if fmt == "json" else "".join(json.dumps(r) + "\n" for r in rows)
    with tempfile.TemporaryDirectory() as folder:
        table_or_input_error(write_file(folder, fmt, text_out), fmt, columns)


@settings(max_examples=20, deadline=None)
@given(
    column=st.sampled_from(["question", "context", "answer", "id"]),
    value=st.sampled_from([1, [1, 2], [b"x"], {"a": 1}, True, None, 2.5]),
)
def test_wrong_typed_parquet_columns_end_in_a_table_or_an_input_error(column, value):
    frame = pd.DataFrame({"id": ["a", "b"], "question": ["Q?", "R?"], "context": ["c", "d"], "answer": ["c", ""]})
    frame[column] = [value, value]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.parquet"
        try:
            frame.to_parquet(path)
        except Exception:  # pyarrow cannot store this mixture: nothing to read
            assume(False)
        table_or_input_error(path, "parquet")


def test_absurd_sizes_read_exactly_or_fail_cleanly(tmp_path):
    long_context = "word, " * 60_000 + '"quoted"\nline'  # over the csv module's default 128 KiB field limit
    wide = ",".join(["id", "question", "context", "answer"] + [f"extra{i}" for i in range(3000)])
    path = tmp_path / "big.csv"
    path.write_text(
        write_delimited([wide.split(","), ["1", "Why?", long_context, "word"] + [""] * 3000], ",", False, True)
    )
    table, _ = normalize_file(path, settings_for("csv"))
    assert table.loc[0, "context"] == long_context
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000)
    assert table_or_input_error(deep, "json") is None
    many = tmp_path / "many.jsonl"
    many.write_text(
        "".join(json.dumps({"question": f"Q{i}?", "context": "", "answer": ""}) + "\n" for i in range(20_000))
    )
    table = table_or_input_error(many, "jsonl")
    assert len(table) == 20_000


# --------------------------------------------------------------------------- the real CLI


def run_cli(path: Path, fmt: str, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPTS / "normalize.py"), "--input", str(path), "--output", str(out / "t.parquet")]
    return subprocess.run(
        [*command, "--settings", json.dumps({"format": fmt})],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ),
    )


@settings(max_examples=6, deadline=None)
@given(case=damaged(formats=("csv", "jsonl", "squad_v2_json")))
def test_cli_ends_in_an_output_or_one_error_line_and_nothing_else(case):
    fmt, data = case
    with tempfile.TemporaryDirectory() as folder:
        path, out = write_file(folder, fmt, data), Path(folder) / "out"
        result = run_cli(path, fmt, out)
        left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode == 0:
        assert left == ["t.parquet", "t.parquet.stats.json"]
    else:
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1].startswith("error: "), result.stderr
        assert left == [], left  # no output, no temporary


def test_cli_refuses_a_shifted_csv_row_and_leaves_nothing(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,question,context,answer\n1,Why, though?,ctx,a\n")
    result = run_cli(path, "csv", tmp_path / "out")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"error: {path}: line 2: 5 fields, but the header has 4"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

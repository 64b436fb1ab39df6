"""Normalising a large source in chunks (write_normalized, normalize_chunks) gives normalize_file's table
and stats exactly: the same rows in the same order, ids deduplicated across chunks, drops counted, the holdout split
by id hash; a table of one chunk gives the same parquet bytes."""

import csv
import io
import sys
import tracemalloc

import pandas as pd
import pytest

from t5qa import UNIFORM_COLUMNS
from t5qa.data.normalize import normalize_file, write_normalized
from t5qa.errors import InputError
from t5qa.settings import NormalizeSettings

from .conftest import REPO


def causalqa_rows(n: int, filler: str = "") -> str:
    """n rows in the CausalQA layout with, spread over the file, a repeated id (also across chunks), an empty
    question, an unanswerable row and a row whose answer vanishes once processed; `filler` ends every context."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(UNIFORM_COLUMNS)
    for i in range(n):
        row_id, question, answer = f"id{i}", f"Why did thing {i} happen?", f"cause {i}"
        if i % 7 == 5:
            row_id = f"id{i - 4}"  # a duplicate of an earlier row, often in an earlier chunk
        if i % 11 == 3:
            question = ""
        if i % 13 == 4:
            answer = ""
        if i % 17 == 6:
            answer = "<br>"
        context = f"Thing {i} happened because cause {i}.{filler}"
        writer.writerow([row_id, question, question.lower(), context, context.lower(), answer, answer.lower()])
    return buffer.getvalue()


HOLDOUTS = [None, {"fraction": 0.3, "part": "train"}, {"fraction": 0.3, "part": "validation"}]


@pytest.mark.parametrize("holdout", HOLDOUTS)
@pytest.mark.parametrize("chunk_rows", [1, 4, 25, 1000])
def test_chunks_give_the_whole_table(tmp_path, write, holdout, chunk_rows):
    path = write("source.csv", causalqa_rows(120))
    settings = NormalizeSettings.from_dict({"format": "causalqa_csv", **({"holdout": holdout} if holdout else {})})
    table, stats = normalize_file(path, settings)
    assert stats["dropped"]["duplicate_id"]["count"] > 0 and stats["dropped"]["empty_question"]["count"] > 0
    out = tmp_path / "chunked.parquet"
    rows, chunked_stats = write_normalized(path, settings, out, chunk_rows=chunk_rows)
    assert rows == len(table) and chunked_stats == stats
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)
    if chunk_rows >= stats["rows_written"]:  # one chunk: the bytes to_parquet writes
        table.to_parquet(tmp_path / "whole.parquet", index=False)
        assert out.read_bytes() == (tmp_path / "whole.parquet").read_bytes()


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_chunks_of_generic_formats(tmp_path, write, fmt):
    frame = pd.DataFrame(
        {"q": [f"q{i}" if i % 5 else "" for i in range(40)], "c": [f"c {i}" for i in range(40)], "a": ["x"] * 40}
    )
    if fmt == "jsonl":
        path = write("s.jsonl", frame.to_json(orient="records", lines=True))
    else:
        path = write(f"s.{fmt}", frame.to_csv(index=False, sep="\t" if fmt == "tsv" else ","))
    settings = NormalizeSettings.from_dict({"format": fmt, "columns": {"question": "q", "context": "c", "answer": "a"}})
    table, stats = normalize_file(path, settings)
    rows, chunked_stats = write_normalized(path, settings, tmp_path / "o.parquet", chunk_rows=3)
    assert rows == len(table) == 32 and chunked_stats == stats
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "o.parquet"), table)


def test_strict_fails_on_the_first_problem_whatever_the_chunk(tmp_path, write):
    path = write("source.csv", causalqa_rows(60))
    settings = NormalizeSettings.from_dict({"format": "causalqa_csv", "strict": True})
    with pytest.raises(InputError) as whole:
        normalize_file(path, settings)
    with pytest.raises(InputError) as chunked:
        write_normalized(path, settings, tmp_path / "o.parquet", chunk_rows=2)
    assert str(chunked.value) == str(whole.value)


def test_a_malformed_record_anywhere_fails_before_any_row(tmp_path, write):
    """The streamed CSV reader checks the whole file first: a bad record at the end wins over row problems."""
    text = causalqa_rows(30) + '"never closed,\n'
    path = write("source.csv", text)
    strict = NormalizeSettings.from_dict({"format": "causalqa_csv", "strict": True})
    with pytest.raises(InputError, match=r"line 32: a quoted field is never closed"):
        write_normalized(path, strict, tmp_path / "o.parquet", chunk_rows=2)


def test_not_utf8_names_its_line_when_streamed(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(causalqa_rows(5).encode() + b"x,\xff,,,,,\n")
    with pytest.raises(InputError, match=r"line 7: not UTF-8 \(byte 0xff"):
        normalize_file(path, NormalizeSettings.from_dict({"format": "causalqa_csv"}))


def test_chunked_normalize_holds_a_chunk_not_the_file(tmp_path, write):
    """What Python allocates while normalising grows with the file when the whole table is built, and only by the ids
    seen (kept for deduplication) when it is written 500 rows at a time: from 4,000 to 16,000 rows of 600-character
    contexts, the chunked peak grows by less than a third of the whole table's growth."""
    settings = NormalizeSettings.from_dict({"format": "causalqa_csv"})

    def peak(run) -> int:
        tracemalloc.start()
        run()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    def peaks(rows: int) -> tuple[int, int]:
        path = write(f"{rows}.csv", causalqa_rows(rows, " It was a long day." * 30))
        whole = peak(lambda: normalize_file(path, settings)[0].to_parquet(tmp_path / "w.parquet", index=False))
        chunked = peak(lambda: write_normalized(path, settings, tmp_path / "c.parquet", chunk_rows=500))
        return whole, chunked

    peaks(500)  # imports and first-call caches, outside the measurements
    (whole_small, chunked_small), (whole_large, chunked_large) = peaks(4000), peaks(16000)
    assert chunked_large - chunked_small < (whole_large - whole_small) / 3, (
        whole_small,
        whole_large,
        chunked_small,
        chunked_large,
    )


def test_scale_benchmark_writes_its_source(tmp_path):
    """benchmarks/scale.py's synthetic source normalises as described: every row but the planted problems."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import scale
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    path = tmp_path / "s.csv"
    every, scale.ODD_EVERY = scale.ODD_EVERY, 100
    try:
        scale.write_source(path, 200)
    finally:
        scale.ODD_EVERY = every
    table, stats = normalize_file(path, NormalizeSettings.from_dict({"format": "causalqa_csv"}))
    assert stats["rows_read"] == 200 and len(table) == 196
    assert {kind: d["count"] for kind, d in stats["dropped"].items()} == {"duplicate_id": 2, "empty_question": 2}
    assert table["context"].is_unique

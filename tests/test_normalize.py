import csv
import json

import pandas as pd
import pytest

from t5qa import UNIFORM_COLUMNS
from t5qa.data.formats import FORMATS
from t5qa.data.normalize import holdout_mask, normalize_file
from t5qa.errors import InputError
from t5qa.settings import NormalizeSettings
from t5qa.text import process_text, split_answers

from .conftest import run_script, squad_json

CAUSALQA_HEADER = "id,question,question_processed,context,context_processed,answer,answer_processed\n"


def settings_for(fmt: str, columns: dict | None = None, strict: bool = False, holdout=None) -> NormalizeSettings:
    """The step's settings, checked as the script checks its --settings."""
    return NormalizeSettings.from_dict({"format": fmt, "columns": columns or {}, "strict": strict, "holdout": holdout})


def test_squad_v2_keeps_ids_answers_and_unanswerable(write):
    path = write(
        "s.json",
        squad_json(
            [
                {
                    "context": "Caf\u00e9 <b>prices</b> rose because milk got dearer.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Why did prices rise?",
                            "is_impossible": False,
                            "answers": [
                                {"text": "milk got dearer", "answer_start": 30},
                                {"text": "because milk got dearer", "answer_start": 22},
                                {"text": "milk got dearer", "answer_start": 30},
                            ],
                        },
                        {
                            "id": "q2",
                            "question": "Why did the caf\u00e9 close?",
                            "is_impossible": True,
                            "answers": [],
                            "plausible_answers": [{"text": "milk", "answer_start": 30}],
                        },
                    ],
                },
            ]
        ),
    )
    table, stats = normalize_file(path, settings_for("squad_v2_json"))
    assert list(table.columns) == UNIFORM_COLUMNS
    assert table["id"].tolist() == ["q1", "q2"]
    # Several golds, tab-separated, duplicates dropped, raw text verbatim (unicode and HTML kept).
    assert table.loc[0, "answer"] == "milk got dearer\tbecause milk got dearer"
    assert table.loc[0, "context"] == "Caf\u00e9 <b>prices</b> rose because milk got dearer."
    assert table.loc[0, "context_processed"] == "caf\u00e9 prices rose because milk got dearer."
    assert table.loc[1, "answer"] == "" and table.loc[1, "answer_processed"] == ""
    assert stats["kept"] == {"multiple_answers": 1, "unanswerable": 1}


def test_process_text_strips_html_and_entities_and_collapses_space():
    assert process_text("  A&amp;B <i>Tag</i>\n\tnext  ") == "a&b tag next"


def test_causalqa_csv_keeps_release_processed_columns(write):
    path = write(
        "c.csv",
        CAUSALQA_HEADER
        + "a1,Why X?,why x?,ctx,ctx,Because Y,because y\tbecause y!\n"
        + "a2,Why is the sky blue?,why is the sky blue?,,,light scatters,light scatters\n",
    )
    table, stats = normalize_file(path, settings_for("causalqa_csv"))
    assert table.loc[0, "answer_processed"] == "because y\tbecause y!"
    assert table.loc[1, "context"] == ""
    assert stats["kept"]["no_context"] == 1  # gooaq-style rows are kept and counted


def test_abstractive_answers_are_kept_and_counted(write):
    path = write(
        "c.csv",
        CAUSALQA_HEADER
        + "a1,Why?,why?,The sun heats air.,the sun heats air.,heat,heat\n"
        + "a2,Why not?,why not?,Rain falls.,rain falls.,clouds cool down,clouds cool down\n",
    )
    table, stats = normalize_file(path, settings_for("causalqa_csv"))
    assert len(table) == 2
    assert stats["kept"]["answer_not_in_context"] == 1


def test_row_problems_are_dropped_and_counted(write):
    path = write(
        "s.json",
        squad_json(
            [
                {
                    "context": "c",
                    "qas": [
                        {"id": "ok", "question": "Fine?", "answers": [{"text": "c", "answer_start": 0}]},
                        {"id": "empty", "question": "   ", "answers": []},
                        {"id": "ok", "question": "Again?", "answers": []},
                        {"id": "num", "question": 42, "answers": []},
                    ],
                }
            ]
        ),
    )
    table, stats = normalize_file(path, settings_for("squad_v2_json"))
    assert table["id"].tolist() == ["ok"]
    assert stats["dropped"] == {
        "duplicate_id": {"count": 1, "first_ids": ["ok"]},
        "empty_question": {"count": 1, "first_ids": ["empty"]},
        "non_string_field": {"count": 1, "first_ids": ["num"]},
    }


def test_strict_mode_fails_naming_file_row_and_id(write):
    path = write(
        "s.json",
        squad_json(
            [
                {
                    "context": "c",
                    "qas": [
                        {"id": "a", "question": "Q?", "answers": []},
                        {"id": "a", "question": "Q2?", "answers": []},
                    ],
                }
            ]
        ),
    )
    with pytest.raises(
        InputError, match=r"s\.json: data\[0\]\.paragraphs\[0\]\.qas\[1\] \(id 'a'\): id appears earlier"
    ):
        normalize_file(path, settings_for("squad_v2_json", strict=True))


@pytest.mark.parametrize(
    ("name", "text", "fmt", "message"),
    [
        ("missing.json", None, "squad_v2_json", "file not found"),
        ("bad.json", "{not json", "squad_v2_json", "line 1 column 2: not valid JSON"),
        ("wrong.json", '{"version": "v2.0"}', "squad_v2_json", "not SQuAD 2.0 JSON"),
        ("cols.csv", "id,question\n1,q\n", "causalqa_csv", "missing columns"),
    ],
)
def test_structural_problems_name_the_file(write, tmp_path, name, text, fmt, message):
    path = write(name, text) if text is not None else tmp_path / name
    with pytest.raises(InputError, match=message) as err:
        normalize_file(path, settings_for(fmt))
    assert name in str(err.value)


def test_an_unknown_format_is_refused_naming_the_formats(write):
    with pytest.raises(InputError) as err:
        normalize_file(write("x.csv", "id,question\n1,q\n"), settings_for("jsnl"))
    assert str(err.value) == (
        f"--settings: unknown format 'jsnl' (did you mean 'jsonl'?); the formats are {', '.join(FORMATS)}"
    )


def test_generic_formats_with_column_mapping_and_nested_answers(write, tmp_path):
    records = [
        {"qid": "1", "q": "Why?", "passage": "Because.", "answers": {"text": ["Because", "Because."]}},
        {"qid": "2", "q": "How?", "passage": "Somehow.", "answers": {"text": []}},
    ]
    mapping = {"id": "qid", "question": "q", "context": "passage", "answer": "answers.text"}
    jsonl = write("d.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    as_json = write("d.json", json.dumps(records))
    parquet = tmp_path / "d.parquet"
    pd.DataFrame(records).to_parquet(parquet)
    for path, fmt in [(jsonl, "jsonl"), (as_json, "json"), (parquet, "parquet")]:
        table, _ = normalize_file(path, settings_for(fmt, mapping))
        assert table["answer"].tolist() == ["Because\tBecause.", ""], fmt
    tsv = write("d.tsv", "qid\tq\tpassage\tgold\n7\tWhy?\tctx\tyes\n")
    tsv_mapping = {"id": "qid", "question": "q", "context": "passage", "answer": "gold"}
    table, _ = normalize_file(tsv, settings_for("tsv", tsv_mapping))
    assert table.iloc[0].to_dict()["answer"] == "yes"


def test_holdout_is_stable_when_rows_are_added():
    ids = pd.Series([f"id-{i}" for i in range(2000)])
    first = holdout_mask(ids, 0.1)
    more = holdout_mask(pd.concat([ids, pd.Series([f"new-{i}" for i in range(500)])], ignore_index=True), 0.1)
    assert first.tolist() == more[:2000].tolist()
    assert 150 < first.sum() < 250


def test_the_holdout_parts_split_the_rows_between_them(write):
    records = [{"id": f"id-{i}", "question": "Why?", "context": "c", "answer": "c"} for i in range(300)]
    path = write("d.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    whole, _ = normalize_file(path, settings_for("jsonl"))
    parts = {}
    for part in ("train", "validation"):
        parts[part], stats = normalize_file(path, settings_for("jsonl", holdout={"fraction": 0.1, "part": part}))
        assert stats["holdout"] == {"fraction": 0.1, "part": part, "rows": len(parts[part])}
        assert stats["rows_written"] == 300  # before the holdout
    assert sorted([*parts["train"]["id"], *parts["validation"]["id"]]) == sorted(whole["id"])
    assert parts["validation"]["id"].tolist() == whole["id"][holdout_mask(whole["id"], 0.1)].tolist()


def test_cli_writes_table_and_stats_and_fails_cleanly(write, tmp_path):
    src = write("s.json", squad_json([{"context": "c", "qas": [{"id": "a", "question": "Q?", "answers": []}]}]))
    out = tmp_path / "out" / "t.parquet"
    run_script("normalize.py", "--input", str(src), "--output", str(out), "--settings", '{"format": "squad_v2_json"}')
    assert pd.read_parquet(out)["id"].tolist() == ["a"]
    assert json.loads((tmp_path / "out" / "t.parquet.stats.json").read_text())["rows_written"] == 1

    bad = write("bad.json", "[")
    failed = run_script(
        "normalize.py",
        "--input",
        str(bad),
        "--output",
        str(tmp_path / "bad.parquet"),
        "--settings",
        '{"format": "squad_v2_json"}',
        check=False,
    )
    assert failed.returncode == 1
    assert "bad.json: line 1 column 2: not valid JSON" in failed.stderr
    assert not (tmp_path / "bad.parquet").exists()
    assert not list(tmp_path.glob(".bad.parquet*"))  # no temporary left behind


# --------------------------------------------------------------------------- 1. CSV/TSV field counts and quoting

MAPPING = {"id": "qid", "question": "query", "context": "passage", "answer": "gold"}


@pytest.mark.parametrize("sep", [",", "\t"])
def test_a_row_with_one_field_too_many_is_refused_not_shifted(write, sep):
    # pandas used the extra leading field as an index here: every column shifted by one, exit 0.
    fmt = "csv" if sep == "," else "tsv"
    path = write(
        f"d.{fmt}", sep.join(["qid", "query", "passage", "gold"]) + "\n" + sep.join(["q1", "Why", " now?", "ctx", "a"])
    )
    with pytest.raises(InputError, match=rf"d\.{fmt}: line 2: 5 fields, but the header has 4$"):
        normalize_file(path, settings_for(fmt, MAPPING))


def test_a_row_with_too_few_fields_is_refused_not_padded(write):
    path = write("d.csv", "qid,query,passage,gold\nq1,Why?,ctx,a\nq2,Why not?,ctx\n")
    with pytest.raises(InputError, match=r"d\.csv: line 3: 3 fields, but the header has 4$"):
        normalize_file(path, settings_for("csv", MAPPING))


def test_the_error_names_the_physical_line_after_quoted_newlines(write):
    text = CAUSALQA_HEADER + 'a1,"Why\nis it\r\nso?",q,"ctx, with ""quotes""",c,a,a\n\n' + "a2,Why?,q,c,c,a\n"
    path = write("c.csv", text)
    with pytest.raises(InputError, match=r"c\.csv: line 6: 6 fields, but the header has 7$"):
        normalize_file(path, settings_for("causalqa_csv"))


def test_quoted_fields_read_exactly_and_every_cell_is_text(write, tmp_path):
    rows = [
        ["q1", 'Why "this", and\nthat?', "a, b\r\nc", "NA"],
        ["007", "null", "", ""],
        ["q3", " spaced ", "nan", "x\ty"],
    ]
    path = tmp_path / "d.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["qid", "query", "passage", "gold"])
        writer.writerow([])  # a blank line is skipped
        writer.writerows(rows)
    table, _ = normalize_file(path, settings_for("csv", MAPPING))
    assert table["id"].tolist() == ["q1", "007", "q3"]
    assert table["question"].tolist() == [r[1] for r in rows]
    assert table["context"].tolist() == [r[2] for r in rows]
    assert table["answer"].tolist() == ["NA", "", "x\ty"]  # "NA" and "" are text, never NaN


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty file"),
        ("\n\r\n  \n", r"empty file"),
        ("id,question,id,answer\n1,q,2,a\n", r"line 1: the CSV header repeats the column names \['id'\]"),
        ('id,question,context,answer\n1,"Why?,c,a\n2,q,c,a\n', r"line 2: a quoted field is never closed"),
        ('id,question,context,answer\n1,"Why"?,c,a\n', r"line 2: malformed quoting"),
    ],
)
def test_structural_csv_problems_are_one_line_errors(write, text, message):
    path = write("d.csv", text)
    with pytest.raises(InputError, match=message) as err:
        normalize_file(path, settings_for("csv"))
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


# --------------------------------------------------------------------------- 2. column mapping


@pytest.mark.parametrize("column", ["id", "question", "context", "answer"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_mapped_field_the_file_lacks_is_refused_listing_its_fields(write, fmt, column):
    records = [{"qid": "q1", "query": "Why?", "passage": "Because.", "gold": "Because"}]
    text = "qid,query,passage,gold\nq1,Why?,Because.,Because\n" if fmt == "csv" else json.dumps(records[0]) + "\n"
    path = write(f"d.{fmt}", text)
    with pytest.raises(InputError) as err:
        normalize_file(path, settings_for(fmt, {**MAPPING, column: "nope"}))
    assert str(err.value) == (
        f"{path}: columns maps {column} to 'nope', which the file does not have; "
        "the file's fields: 'qid', 'query', 'passage', 'gold'"
    )


def test_the_readme_mapping_on_a_file_without_gold_is_refused(write):
    path = write("my_qa.csv", "qid,query,passage\nq1,Why did the bridge close?,The river flooded.\n")
    with pytest.raises(InputError, match=r"columns maps answer to 'gold', which the file does not have"):
        normalize_file(path, settings_for("csv", MAPPING))


def test_an_unmapped_default_column_the_file_lacks_is_refused_with_a_hint(write):
    path = write("d.jsonl", json.dumps({"question": "Why?", "text": "ctx"}) + "\n")
    with pytest.raises(InputError) as err:
        normalize_file(path, settings_for("jsonl"))
    assert str(err.value) == (
        f"{path}: no field 'context' or 'answer' (name the file's own under the source's columns: "
        "{context: YOUR_FIELD, answer: YOUR_FIELD}); the file's fields: 'question', 'text'"
    )


def test_a_dotted_path_no_record_reaches_is_refused(write):
    path = write("d.json", json.dumps([{"q": "Why?", "c": "x", "answers": {"txt": ["x"]}}]))
    with pytest.raises(InputError, match=r"columns maps answer to 'answers\.text', which the file does not have"):
        normalize_file(path, settings_for("json", {"question": "q", "context": "c", "answer": "answers.text"}))


def test_fields_missing_on_some_records_are_row_problems(write):
    records = [
        {"id": "1", "question": "Why?", "context": "c", "answer": "c"},
        {"id": "2", "question": "No answer?", "context": "c"},  # unanswerable, as before
        {"id": "3", "context": "c", "answer": "c"},  # no question: dropped
        {"question": "No id?", "context": "c", "answer": None},  # id derived from the text
        "not a record",
    ]
    path = write("d.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    table, stats = normalize_file(path, settings_for("jsonl"))
    assert table["id"].tolist()[:2] == ["1", "2"] and len(table) == 3
    assert table["answer"].tolist() == ["c", "", ""]
    assert stats["dropped"] == {
        "bad_record": {"count": 1, "first_ids": ["line 5"]},
        "empty_question": {"count": 1, "first_ids": ["3"]},
    }


def test_a_mapped_id_missing_on_a_row_drops_it_naming_its_line(write):
    path = write("d.csv", "qid,query,passage,gold\n,Why?,c,\nq2,Why?,c,\n")
    table, stats = normalize_file(path, settings_for("csv", MAPPING))
    assert table["id"].tolist() == ["q2"]
    assert stats["dropped"] == {"missing_id": {"count": 1, "first_ids": ["line 2"]}}


@pytest.mark.parametrize(
    ("fmt", "columns", "message"),
    [
        ("squad_v2_json", {"question": "q"}, "columns apply to the generic formats"),
        ("jsonl", {"answers": "a"}, r"columns names \['answers'\]; it may map only id, question, context, answer"),
        ("jsonl", {"answer": 3}, r"columns maps \['answer'\] to something that is not a field name"),
    ],
)
def test_bad_column_mappings_are_refused(write, fmt, columns, message):
    path = write("d.json", squad_json([]))
    # Built in code, unchecked: the module refuses them itself (--settings refuses the last two already).
    unchecked = NormalizeSettings(format=fmt, columns=columns, strict=False, holdout=None)
    with pytest.raises(InputError, match=message):
        normalize_file(path, unchecked)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ("{x", "not valid JSON"),
        ('{"format": "jsonl", "columns": {"answers": "a"}}', 'the name "answers" is not allowed'),
        ('{"columns": {}}', "'format'"),
        ('{"format": "jsnl"}', "unknown format 'jsnl' (did you mean 'jsonl'?); the formats are "),
        ('{"format": "csv", "holdout": {"fraction": 1, "part": "train"}}', "holdout"),
    ],
)
def test_cli_refuses_bad_settings_in_one_line(write, tmp_path, settings, fragment):
    src = write("d.jsonl", json.dumps({"question": "Why?", "context": "c", "answer": "c"}) + "\n")
    args = ["--input", str(src), "--output", str(tmp_path / "o.parquet"), "--settings", settings]
    failed = run_script("normalize.py", *args, check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
    last = failed.stderr.splitlines()[-1]
    assert last.startswith("error: --settings") and fragment in last, failed.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_cli_holds_out_a_part_and_refuses_one_left_empty(write, tmp_path):
    src = write("d.jsonl", json.dumps({"id": "a", "question": "Why?", "context": "c", "answer": "c"}) + "\n")
    out = tmp_path / "o.parquet"
    for part, rows in (("train", 1), ("validation", 0)):
        holdout = json.dumps({"format": "jsonl", "holdout": {"fraction": 0.001, "part": part}})
        result = run_script(
            "normalize.py", "--input", str(src), "--output", str(out), "--settings", holdout, check=False
        )
        if rows:
            assert result.returncode == 0, result.stderr
            assert json.loads((tmp_path / "o.parquet.stats.json").read_text())["holdout"]["rows"] == 1
        else:
            assert result.returncode == 1
            assert "no usable rows after holding out validation" in result.stderr.splitlines()[-1]


def test_help_lists_the_settings_and_the_formats():
    text = run_script("normalize.py", "--help").stdout
    assert "--settings" in text and "holdout (default null)" in text
    assert f"formats: {', '.join(FORMATS)}" in text


# --------------------------------------------------------------------------- 3. wrong-typed SQuAD 2.0


@pytest.mark.parametrize(
    ("qa", "reason", "detail"),
    [
        ("just text", "bad_qa", "the question is text, not an object"),
        ({"id": "x", "question": "Q?", "answers": "the river"}, "bad_answers", "answers is text, not a list"),
        ({"id": "x", "question": "Q?", "answers": {"text": "a"}}, "bad_answers", "answers is an object, not a list"),
        ({"id": "x", "question": "Q?", "answers": ["a"]}, "bad_answers", r"answers\[0\] is text, not an object"),
        ({"id": "x", "question": "Q?", "answers": [{"text": 5}]}, "bad_answers", r"answers\[0\]\.text is a number"),
        ({"id": "x", "question": "Q?", "is_impossible": "no"}, "bad_is_impossible", "is_impossible is text"),
    ],
)
def test_wrong_typed_squad_questions_are_dropped_and_named(write, qa, reason, detail):
    good = {"id": "ok", "question": "Fine?", "answers": [{"text": "c", "answer_start": 0}]}
    path = write("s.json", squad_json([{"context": "c", "qas": [good, qa]}]))
    table, stats = normalize_file(path, settings_for("squad_v2_json"))
    assert table["id"].tolist() == ["ok"] and table.loc[0, "answer"] == "c"
    label = "x" if isinstance(qa, dict) else "data[0].paragraphs[0].qas[1]"
    assert stats["dropped"] == {reason: {"count": 1, "first_ids": [label]}}
    assert stats["rows_read"] == 2
    with pytest.raises(InputError, match=rf"s\.json: data\[0\]\.paragraphs\[0\]\.qas\[1\]( \(id 'x'\))?: {detail}"):
        normalize_file(path, settings_for("squad_v2_json", strict=True))


def test_a_paragraph_whose_context_is_not_text_drops_its_questions(write):
    paragraphs = [
        {"context": ["not", "text"], "qas": [{"id": "a", "question": "Q?"}, {"id": "b", "question": "Q?"}]},
        {"qas": [{"id": "c", "question": "No context?"}]},  # absent context: kept, counted as no_context
    ]
    table, stats = normalize_file(write("s.json", squad_json(paragraphs)), settings_for("squad_v2_json"))
    assert table["id"].tolist() == ["c"]
    assert stats["dropped"] == {"bad_context": {"count": 2, "first_ids": ["a", "b"]}}
    assert stats["kept"]["no_context"] == 1


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ({"data": {"paragraphs": []}}, "not SQuAD 2.0 JSON"),
        ({"data": [{"paragraphs": "text"}]}, r"data\[0\] has no 'paragraphs' list"),
        (
            {"data": [{"paragraphs": [{"context": "c", "qas": {"id": "a"}}]}]},
            r"data\[0\]\.paragraphs\[0\] has no 'qas'",
        ),
    ],
)
def test_structural_squad_damage_names_the_json_path(write, root, message):
    with pytest.raises(InputError, match=message):
        normalize_file(write("s.json", json.dumps(root)), settings_for("squad_v2_json"))


# --------------------------------------------------------------------------- 4. encodings


def _write_bytes(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


ENCODING_CASES = {
    # format: (file name, UTF-8 text whose third line holds "café")
    "csv": ("d.csv", "id,question,context,answer\n1,Why?,ctx,a\n2,Why café?,ctx,b\n"),
    "tsv": ("d.tsv", "id\tquestion\tcontext\tanswer\n1\tWhy?\tctx\ta\n2\tWhy café?\tctx\tb\n"),
    "causalqa_csv": ("c.csv", CAUSALQA_HEADER + "1,Why?,why?,ctx,ctx,a,a\n2,Why café?,why café?,ctx,ctx,b,b\n"),
    "jsonl": (
        "d.jsonl",
        '{"id": "1", "question": "Why?", "context": "c", "answer": "a"}\n\n'
        '{"id": "2", "question": "Why café?", "context": "c", "answer": "b"}\n',
    ),
    "json": (
        "d.json",
        '[{"id": "1", "question": "Why?", "context": "c", "answer": "a"},\n\n'
        '{"id": "2", "question": "Why café?", "context": "c", "answer": "b"}]\n',
    ),
    "squad_v2_json": (
        "s.json",
        '{"data": [{"paragraphs": [{"context": "c", "qas": [\n{"id": "1", "question": "Why?"},\n'
        '{"id": "2", "question": "Why café?"}]}]}]}\n',
    ),
}


@pytest.mark.parametrize("fmt", list(ENCODING_CASES))
def test_a_byte_order_mark_reads_the_same_in_every_format(tmp_path, fmt):
    name, text = ENCODING_CASES[fmt]
    plain, _ = normalize_file(_write_bytes(tmp_path, name, text.encode()), settings_for(fmt))
    with_bom, _ = normalize_file(
        _write_bytes(tmp_path, "bom-" + name, b"\xef\xbb\xbf" + text.encode()), settings_for(fmt)
    )
    pd.testing.assert_frame_equal(plain, with_bom)
    assert plain["question"].tolist() == ["Why?", "Why café?"]


@pytest.mark.parametrize("fmt", list(ENCODING_CASES))
def test_latin1_bytes_are_refused_naming_the_line(tmp_path, fmt):
    name, text = ENCODING_CASES[fmt]
    path = _write_bytes(tmp_path, name, text.encode("latin-1"))
    with pytest.raises(InputError) as err:
        normalize_file(path, settings_for(fmt))
    offset = text.encode("latin-1").index(b"\xe9")
    assert str(err.value) == f"{path}: line 3: not UTF-8 (byte 0xe9 at offset {offset})"


def test_utf16_gets_a_hint(tmp_path):
    path = _write_bytes(tmp_path, "d.csv", "id,question\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"line 1: not UTF-8 .*it looks like UTF-16, save it as UTF-8"):
        normalize_file(path, settings_for("csv"))


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        (
            "json",
            '[\n  {"id": "1",\n   "question": }\n]',
            r"d\.json: line 3 column 16: not valid JSON \(Expecting value\)",
        ),
        ("jsonl", '{"id": "1"}\n\n{"id": 2,,}\n', r"d\.json: line 3 column 10: not valid JSON"),
        ("jsonl", '{"id": "1", "id": "2"}\n', r"d\.json: line 1: an object names the key 'id' twice"),
        ("json", "[" * 100_000, r"d\.json: JSON nested too deeply"),
    ],
)
def test_invalid_json_names_line_and_column(write, fmt, text, message):
    with pytest.raises(InputError, match=message):
        normalize_file(write("d.json", text), settings_for(fmt))


# --------------------------------------------------------------------------- 5. CausalQA answer agreement


def test_causalqa_answer_and_processed_agree_on_answerability(write):
    path = write(
        "c.csv",
        CAUSALQA_HEADER
        + "raw_empty,Why?,why?,ctx,ctx,,because Y\tY\n"  # processed golds become the answer
        + "processed_empty,Why?,why?,ctx,ctx,Because <b>Y</b>,\n"  # processed recomputed from the answer
        + "both,Why?,why?,ctx,ctx,Y,y\n"
        + "neither,Why?,why?,ctx,ctx,,\n",
    )
    table, stats = normalize_file(path, settings_for("causalqa_csv"))
    rows = table.set_index("id")
    assert rows.loc["raw_empty", "answer"] == "because Y\tY"
    assert rows.loc["raw_empty", "answer_processed"] == "because Y\tY"
    assert rows.loc["processed_empty", "answer"] == "Because <b>Y</b>"
    assert rows.loc["processed_empty", "answer_processed"] == "because y"
    assert stats["kept"]["answer_from_processed"] == 1 and stats["kept"]["processed_from_answer"] == 1
    for answer, processed in zip(table["answer"], table["answer_processed"]):
        assert bool(split_answers(answer)) == bool(split_answers(processed))


def test_an_answer_that_vanishes_when_processed_is_dropped(write):
    path = write("d.jsonl", json.dumps({"id": "1", "question": "Why?", "context": "<br>", "answer": "<br>"}) + "\n")
    table, stats = normalize_file(path, settings_for("jsonl"))
    assert table.empty
    assert stats["dropped"] == {"answer_empty_when_processed": {"count": 1, "first_ids": ["1"]}}
    path = write("c.csv", CAUSALQA_HEADER + "a,Why?,why?,ctx,ctx,<br>,\nb,Why?,why?,ctx,ctx,<b>Y</b>\t<br>,\n")
    table, stats = normalize_file(path, settings_for("causalqa_csv"))
    assert table["answer_processed"].tolist() == ["y"]  # no empty gold left behind for "<br>"
    assert stats["dropped"] == {"answer_empty_when_processed": {"count": 1, "first_ids": ["a"]}}
    assert stats["kept"]["processed_from_answer"] == 1


def test_strict_mode_names_the_csv_line_and_a_lone_surrogate_is_not_text(write):
    path = write("d.csv", "id,question,context,answer\na,Why?,c,\na,Again?,c,\n")
    with pytest.raises(InputError, match=r"d\.csv: line 3 \(id 'a'\): id appears earlier in the file$"):
        normalize_file(path, settings_for("csv", strict=True))
    path = write("d.jsonl", '{"id": "a", "question": "Why \\ud800?", "context": "", "answer": ""}\n')
    table, stats = normalize_file(path, settings_for("jsonl"))
    assert table.empty and stats["dropped"] == {"invalid_text": {"count": 1, "first_ids": ["a"]}}

import json

import pandas as pd
import pytest

from t5qa import UNIFORM_COLUMNS
from t5qa.errors import InputError
from t5qa.normalize import holdout_mask, normalize_file
from t5qa.text import process_text

from .conftest import run_script, squad_json

CAUSALQA_HEADER = "id,question,question_processed,context,context_processed,answer,answer_processed\n"


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
    table, stats = normalize_file(path, "squad_v2_json")
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
    table, stats = normalize_file(path, "causalqa_csv")
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
    table, stats = normalize_file(path, "causalqa_csv")
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
    table, stats = normalize_file(path, "squad_v2_json")
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
    with pytest.raises(InputError, match=r"s\.json: row 2 \(id 'a'\): id appears earlier"):
        normalize_file(path, "squad_v2_json", strict=True)


@pytest.mark.parametrize(
    ("name", "text", "fmt", "message"),
    [
        ("missing.json", None, "squad_v2_json", "file not found"),
        ("bad.json", "{not json", "squad_v2_json", "not valid JSON"),
        ("wrong.json", '{"version": "v2.0"}', "squad_v2_json", "not SQuAD 2.0 JSON"),
        ("cols.csv", "id,question\n1,q\n", "causalqa_csv", "missing columns"),
        ("x.csv", "id,question\n1,q\n", "yaml", "unknown format"),
    ],
)
def test_structural_problems_name_the_file(write, tmp_path, name, text, fmt, message):
    path = write(name, text) if text is not None else tmp_path / name
    with pytest.raises(InputError, match=message) as err:
        normalize_file(path, fmt)
    assert name in str(err.value)


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
        table, _ = normalize_file(path, fmt, mapping)
        assert table["answer"].tolist() == ["Because\tBecause.", ""], fmt
    tsv = write("d.tsv", "qid\tq\tpassage\tgold\n7\tWhy?\tctx\tyes\n")
    table, _ = normalize_file(tsv, "tsv", {"id": "qid", "question": "q", "context": "passage", "answer": "gold"})
    assert table.iloc[0].to_dict()["answer"] == "yes"


def test_generic_mapping_to_a_missing_field_is_a_clear_error(write):
    path = write("d.jsonl", json.dumps({"text": "Why?"}) + "\n")
    with pytest.raises(InputError, match="no field 'q' for column 'question'"):
        normalize_file(path, "jsonl", {"question": "q"})


def test_holdout_is_stable_when_rows_are_added():
    ids = pd.Series([f"id-{i}" for i in range(2000)])
    first = holdout_mask(ids, 0.1)
    more = holdout_mask(pd.concat([ids, pd.Series([f"new-{i}" for i in range(500)])], ignore_index=True), 0.1)
    assert first.tolist() == more[:2000].tolist()
    assert 150 < first.sum() < 250


def test_cli_writes_table_and_stats_and_fails_cleanly(write, tmp_path):
    src = write("s.json", squad_json([{"context": "c", "qas": [{"id": "a", "question": "Q?", "answers": []}]}]))
    out = tmp_path / "out" / "t.parquet"
    run_script("normalize.py", "--format", "squad_v2_json", "--input", str(src), "--output", str(out))
    assert pd.read_parquet(out)["id"].tolist() == ["a"]
    assert json.loads((tmp_path / "out" / "t.parquet.stats.json").read_text())["rows_written"] == 1

    bad = write("bad.json", "[")
    failed = run_script(
        "normalize.py",
        "--format",
        "squad_v2_json",
        "--input",
        str(bad),
        "--output",
        str(tmp_path / "bad.parquet"),
        check=False,
    )
    assert failed.returncode == 1
    assert "bad.json: not valid JSON" in failed.stderr
    assert not (tmp_path / "bad.parquet").exists()
    assert not list(tmp_path.glob(".bad.parquet*"))  # no temporary left behind

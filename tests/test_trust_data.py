"""Trust, second round (issue 22), class 2: no silent data changes. A record without the answer field, a SQuAD question
marked answerable with no answer, and validation rows that repeat training rows are each counted under their own
name in the stats and the log, or refused (`strict: true`; `tokenize.train_validation_overlap: refuse`)."""

import json
import logging

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from t5qa import UNIFORM_COLUMNS
from t5qa.data.normalize import normalize_file
from t5qa.data.tokenize_data import tokenize_dataset
from t5qa.errors import InputError
from t5qa.settings import NormalizeSettings, TokenizeSettings

from .conftest import run_script, squad_json
from .test_cli_errors import TOKENIZE_SETTINGS, in_process

# --------------------------------------------------------------------------- records without the answer field


def normalize(path, fmt, columns=None, strict=False):
    return normalize_file(
        path, NormalizeSettings.from_dict({"format": fmt, "columns": columns or {}, "strict": strict})
    )


# Each record: has the answer field with an answer, with null, or lacks it.
records = st.lists(st.sampled_from(["answer", "null", "absent"]), min_size=1, max_size=12).filter(
    lambda kinds: "answer" in kinds or "null" in kinds  # a file where no record has the field is refused whole
)


def _write_records(tmp_path, kinds, fmt, field):
    rows = []
    for i, kind in enumerate(kinds):
        row = {"qid": f"r{i}", "q": f"question {i}?", "c": f"context {i}."}
        if kind != "absent":
            row[field] = None if kind == "null" else f"context {i}"
        rows.append(row)
    path = tmp_path / f"data.{fmt}"
    text = "".join(json.dumps(r) + "\n" for r in rows) if fmt == "jsonl" else json.dumps(rows)
    path.write_text(text)
    return path


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=records, fmt=st.sampled_from(["jsonl", "json"]), mapped=st.booleans())
def test_records_without_the_answer_field_are_counted(tmp_path, kinds, fmt, mapped):
    field = "gold" if mapped else "answer"
    columns = {"id": "qid", "question": "q", "context": "c", **({"answer": "gold"} if mapped else {})}
    path = _write_records(tmp_path, kinds, fmt, field)
    table, stats = normalize(path, fmt, columns)
    absent = [f"r{i}" for i, kind in enumerate(kinds) if kind == "absent"]
    assert len(table) == len(kinds)  # kept, as unanswerable
    assert stats["kept"].get("answer_field_absent", 0) == len(absent)
    assert stats.get("kept_first_ids", {}).get("answer_field_absent", []) == absent[:5]
    # a null answer is an explicit "no answer": not counted
    assert stats["kept"].get("unanswerable", 0) == kinds.count("absent") + kinds.count("null")
    if absent:
        with pytest.raises(InputError) as raised:
            normalize(path, fmt, columns, strict=True)
        where = f"line {kinds.index('absent') + 1}" if fmt == "jsonl" else f"[{kinds.index('absent')}]"
        assert where in str(raised.value) and "no answer field" in str(raised.value)
        assert "\n" not in str(raised.value)
    else:
        normalize(path, fmt, columns, strict=True)


def test_the_step_warns_naming_the_records(tmp_path):
    path = _write_records(tmp_path, ["answer", "absent", "answer", "absent"], "jsonl", "answer")
    out = tmp_path / "t.parquet"
    result = run_script(
        "normalize.py",
        *("--input", str(path), "--output", str(out)),
        *("--settings", json.dumps({"format": "jsonl", "columns": {"id": "qid", "question": "q", "context": "c"}})),
    )
    warning = [line for line in result.stderr.splitlines() if "answer field absent" in line]
    assert len(warning) == 1 and "WARNING" in warning[0] and "'r1', 'r3'" in warning[0], result.stderr
    stats = json.loads((tmp_path / "t.parquet.stats.json").read_text())
    assert stats["kept"]["answer_field_absent"] == 2 and stats["kept_first_ids"] == {
        "answer_field_absent": ["r1", "r3"]
    }


# --------------------------------------------------------------------------- SQuAD: answerable without an answer


@pytest.mark.parametrize(
    ("answers", "impossible", "outcome"),
    [
        ([], False, "dropped"),
        ([{"text": ""}], False, "dropped"),
        ([{"text": "  "}, {"text": ""}], False, "dropped"),
        (None, False, "dropped"),  # no answers key at all
        ([], True, "unanswerable"),
        ([], None, "unanswerable"),  # no is_impossible: nothing contradicts the empty answers
        ([{"text": "c"}], False, "answered"),
    ],
)
def test_an_answerable_question_without_answers_is_not_made_unanswerable(write, answers, impossible, outcome):
    qa = {"id": "q1", "question": "why?"}
    if answers is not None:
        qa["answers"] = answers
    if impossible is not None:
        qa["is_impossible"] = impossible
    other = {"id": "q2", "question": "what?", "answers": [{"text": "c"}], "is_impossible": False}
    path = write("s.json", squad_json([{"context": "a c", "qas": [qa, other]}]))
    table, stats = normalize(path, "squad_v2_json")
    if outcome == "dropped":
        assert list(table["id"]) == ["q2"]
        assert stats["dropped"] == {"answerable_without_answers": {"count": 1, "first_ids": ["q1"]}}
        with pytest.raises(InputError, match=r"qas\[0\] \(id 'q1'\): is_impossible is false but the question has no"):
            normalize(path, "squad_v2_json", strict=True)
    else:
        assert list(table["id"]) == ["q1", "q2"] and stats["dropped"] == {}
        assert (table["answer"].iloc[0] == "") == (outcome == "unanswerable")


# --------------------------------------------------------------------------- validation rows that repeat training rows


def _table(path, rows):
    full = [[i, q, q, c, c, a, a] for i, q, c, a in rows]
    pd.DataFrame(full, columns=UNIFORM_COLUMNS).to_parquet(path, index=False)
    return path


TRAIN = [("t1", "why a?", "a because b.", "b"), ("t2", "why c?", "c because d.", "d"), ("t3", "who?", "e did.", "e")]


@pytest.mark.parametrize(
    ("validation", "same_id", "same_text"),
    [
        ([("v1", "why x?", "x because y.", "y")], 0, 0),
        ([("t1", "why x?", "x because y.", "y")], 1, 0),  # a training id
        ([("v1", "why a?", "a because b.", "")], 0, 1),  # a training question and context, another id
        ([("t2", "why c?", "c because d.", "d"), ("v2", "who?", "e did.", "e"), ("v3", "q?", "c.", "c")], 1, 2),
        ([("v1", "why a?", "another context.", "b")], 0, 0),  # the same question on another context is fine
    ],
)
def test_validation_rows_repeating_training_rows_are_counted(
    tmp_path, tiny_tokenizer, caplog, validation, same_id, same_text
):
    from transformers import AutoTokenizer

    tables = {
        "train": [("a", _table(tmp_path / "train.parquet", TRAIN))],
        "validation": [("a", _table(tmp_path / "validation.parquet", validation))],
    }
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    with caplog.at_level(logging.WARNING, logger="t5qa.data.tokenize_data"):
        stats = tokenize_dataset(tables, tokenizer, TokenizeSettings.from_dict(TOKENIZE_SETTINGS), tmp_path / "out")
    overlap = stats["validation"].get("overlap_with_train")
    warnings = [r.getMessage() for r in caplog.records if "overlap_with_train" in r.getMessage()]
    if same_id == same_text == 0:
        assert overlap is None and not warnings
        return
    assert overlap["same_id"] == same_id and overlap["same_question_and_context"] == same_text
    assert len(warnings) == 1 and overlap["first_ids"][0] in warnings[0]
    refuse = TokenizeSettings.from_dict({**TOKENIZE_SETTINGS, "train_validation_overlap": "refuse"})
    with pytest.raises(InputError, match="validation rows have a training row's id"):
        tokenize_dataset(tables, tokenizer, refuse, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_the_same_id_in_another_source_is_no_overlap(tmp_path, tiny_tokenizer):
    from transformers import AutoTokenizer

    tables = {
        "train": [("a", _table(tmp_path / "train.parquet", TRAIN))],
        "validation": [("b", _table(tmp_path / "validation.parquet", [("t1", "why x?", "x because y.", "y")]))],
    }
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer)
    stats = tokenize_dataset(tables, tokenizer, TokenizeSettings.from_dict(TOKENIZE_SETTINGS), tmp_path / "out")
    assert "overlap_with_train" not in stats["validation"]


def test_the_step_refuses_an_overlap_in_one_line(tmp_path, tiny_tokenizer):
    (tmp_path / "a").mkdir()
    train = _table(tmp_path / "a" / "train.parquet", TRAIN)
    validation = _table(tmp_path / "a" / "validation.parquet", [("t1", "why a?", "a because b.", "b")])
    out = tmp_path / "out"
    status, stderr = in_process(
        "tokenize_data",
        *("--tokenizer", str(tiny_tokenizer), "--train", f"a={train}", "--validation", f"a={validation}"),
        *("--output", str(out), "--stats", f"{out}.stats.json"),
        *("--settings", json.dumps({**TOKENIZE_SETTINGS, "train_validation_overlap": "refuse"})),
    )
    assert status == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: --validation: 1 validation rows have a training row's id and 1 ") and "a:t1" in last
    assert "Traceback" not in stderr and not out.exists() and not (tmp_path / "out.stats.json").exists()

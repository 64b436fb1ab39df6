import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from t5qa import UNIFORM_COLUMNS
from t5qa.errors import InputError
from t5qa.evaluate.metrics import evaluate, load_predictions, name_references
from t5qa.text import gold_answers

from .conftest import SCRIPTS, run_script


def _tables(tmp_path):
    columns = UNIFORM_COLUMNS
    a = pd.DataFrame(
        [["1", "q", "q", "c", "c", "red car", "red car"], ["2", "q", "q", "c", "c", "", ""]], columns=columns
    )
    b = pd.DataFrame([["1", "q", "q", "c", "c", "blue", "blue\tdark blue"]], columns=columns)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a.to_parquet(tmp_path / "a" / "validation.parquet")
    b.to_parquet(tmp_path / "b" / "validation.parquet")
    return [("a", tmp_path / "a" / "validation.parquet"), ("b", tmp_path / "b" / "validation.parquet")]


def _predictions(tmp_path, rows):
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_per_source_breakdown_and_shared_ids(tmp_path):
    refs = _tables(tmp_path)
    preds = _predictions(
        tmp_path,
        [
            {"id": "1", "source": "a", "prediction": "the red car"},
            {"id": "2", "source": "a", "prediction": ""},
            {"id": "1", "source": "b", "prediction": "dark blue"},
        ],
    )
    result = evaluate(preds, refs)
    assert result["exact"] == 100.0 and result["total"] == 3
    assert result["per_source"]["a"]["NoAns_total"] == 1
    assert result["per_source"]["b"]["exact"] == 100.0  # a gold from the processed column
    assert result["baselines"]["always_empty"]["exact"] == pytest.approx(100 / 3)


def test_missing_and_ambiguous_predictions_are_errors(tmp_path):
    refs = _tables(tmp_path)
    with pytest.raises(InputError, match="no prediction"):
        evaluate(_predictions(tmp_path, [{"id": "2", "source": "a", "prediction": ""}]), refs)
    with pytest.raises(InputError, match="several sources"):
        evaluate(_predictions(tmp_path, [{"id": "1", "prediction": ""}]), refs)


def test_gold_answers_prefers_the_longer_list():
    assert gold_answers("a", "a\tb") == ["a", "b"]
    assert gold_answers("a\tb", "a") == ["a", "b"]


def test_cli_scores_any_predictions_file(tmp_path):
    refs = _tables(tmp_path)
    preds = _predictions(
        tmp_path,
        [
            {"id": "1", "source": "a", "prediction": "car"},
            {"id": "2", "source": "a", "prediction": "unanswerable text"},
            {"id": "1", "source": "b", "prediction": "blue"},
        ],
    )
    out = tmp_path / "m.json"
    run_script(
        "metrics.py",
        "--predictions",
        str(preds),
        "--references",
        *[str(p) for _, p in refs],
        "--output",
        str(out),
    )
    metrics = json.loads(out.read_text())
    assert set(metrics) >= {
        "exact",
        "f1",
        "total",
        "HasAns_exact",
        "HasAns_f1",
        "HasAns_total",
        "NoAns_exact",
        "NoAns_f1",
        "NoAns_total",
        "rougeL_f1",
        "per_source",
    }
    assert metrics["exact"] == pytest.approx(100 / 3)
    # the Webis-CausalQA-22 paper's measures, apart: its F1 would give an empty answer to "2" 0 (here: "text")
    assert metrics["causalqa_measures"]["total"] == 3
    assert metrics["causalqa_measures"]["exact"] == pytest.approx(100 / 3)
    assert "best_f1" not in metrics  # no na_prob in the predictions


def test_cli_adds_the_tuned_thresholds_when_predictions_carry_na_prob(tmp_path):
    refs = _tables(tmp_path)
    rows = [
        {"id": "1", "source": "a", "prediction": "car", "na_prob": 0.2, "score": -1.5},
        {"id": "2", "source": "a", "prediction": "unanswerable text", "na_prob": 0.9, "score": -0.5},
        {"id": "1", "source": "b", "prediction": "blue", "na_prob": 0.1, "score": -0.1},
    ]
    out = tmp_path / "m.json"
    predictions = str(_predictions(tmp_path, rows))
    run_script(
        "metrics.py", "--predictions", predictions, "--output", str(out), "--references", *[str(p) for _, p in refs]
    )
    metrics = json.loads(out.read_text())
    # walk by na_prob: b/1 (+1) then a/1 (F1 2/3, EM 0) then the unanswerable a/2 (-1): best before a/2
    assert (metrics["best_exact"], metrics["best_exact_thresh"]) == (pytest.approx(200 / 3), 0.1)
    assert (metrics["best_f1"], metrics["best_f1_thresh"]) == (pytest.approx(100 * (2 + 2 / 3) / 3), 0.2)
    assert metrics["exact"] == pytest.approx(100 / 3)  # the plain scores answer everything, as officially


def _pipeline_predictions(tmp_path, sources_and_ids):
    """What predict.py writes: every row carries the source's name from the config."""
    rows = [{"id": i, "source": s, "prediction": "", "generated": "unanswerable"} for s, i in sources_and_ids]
    return _predictions(tmp_path, rows)


def test_readme_command_on_the_pipelines_predictions(tmp_path):
    """`metrics.py --predictions P.jsonl --references R.parquet`: R.parquet in the current folder matches the
    predictions by id, whatever source they carry, and is named after that source."""
    refs = _tables(tmp_path)
    (tmp_path / "R.parquet").write_bytes(refs[0][1].read_bytes())
    _pipeline_predictions(tmp_path, [("demo_squad", "1"), ("demo_squad", "2")])
    command = [sys.executable, str(SCRIPTS / "metrics.py"), "--predictions", "p.jsonl", "--references", "R.parquet"]
    command += ["--output", "M.json", "--manifest", "M.manifest.json"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "M.json").read_text())["total"] == 2
    assert "references:demo_squad" in json.loads((tmp_path / "M.manifest.json").read_text())["inputs"]


def test_one_unnamed_reference_matches_by_id_alone(tmp_path):
    refs = _tables(tmp_path)
    mixed = _pipeline_predictions(tmp_path, [("x", "1"), ("y", "2")])
    assert evaluate(mixed, [(None, refs[0][1])])["total"] == 2  # sources disagree: named after the folder
    assert name_references([(None, refs[0][1])], load_predictions(mixed)) == ([("a", refs[0][1])], True)
    twice = _pipeline_predictions(tmp_path, [("x", "1"), ("y", "1"), ("x", "2")])
    with pytest.raises(InputError, match="two predictions for id '1'"):
        evaluate(twice, [(None, refs[0][1])])


def test_one_unnamed_reference_for_a_dataset_of_several_sources_says_what_to_give(tmp_path):
    refs = _tables(tmp_path)
    preds = _pipeline_predictions(tmp_path, [("squad", "1"), ("squad", "2"), ("causal", "3")])
    message = "1 predictions match no reference id, e.g. ['3']; the predictions carry the sources"
    with pytest.raises(InputError, match=re.escape(message) + r".*give a reference for each, as SOURCE=PATH"):
        evaluate(preds, [(None, refs[0][1])])


def test_unnamed_references_that_match_no_source_say_how_to_name_them(tmp_path):
    refs = _tables(tmp_path)
    preds = _pipeline_predictions(tmp_path, [("squad", "1"), ("squad", "2"), ("causal", "1")])
    with pytest.raises(InputError) as raised:
        evaluate(preds, [(None, path) for _, path in refs])
    message = str(raised.value)
    assert "the predictions carry the sources ['causal', 'squad']" in message
    assert "the references are named ['a', 'b']" in message
    assert "SOURCE=PATH" in message and "named after its folder" in message
    result = run_script(
        "metrics.py",
        "--predictions",
        str(preds),
        "--references",
        f"squad={refs[0][1]}",
        f"causal={refs[1][1]}",
        "--output",
        str(tmp_path / "m.json"),
    )
    assert json.loads((tmp_path / "m.json").read_text())["total"] == 3, result.stderr


def test_two_references_with_one_name_are_refused(tmp_path):
    refs = _tables(tmp_path)
    preds = _pipeline_predictions(tmp_path, [("a", "1"), ("a", "2")])
    with pytest.raises(InputError, match="2 references are named 'a'"):
        evaluate(preds, [("a", refs[0][1]), ("a", refs[1][1])])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1]", "line 1 is not a JSON object"),
        (b'{"id": 1, "prediction": ""}', "line 1 needs a text 'id'"),
        (b'{"id": "1", "prediction": "", "source": 3}', "'source' must be text"),
        (b'{"id": "\\ud800", "prediction": ""}', "'id' is not valid Unicode"),
        (b'{"id": "caf\xe9", "prediction": ""}', "line 1 is not UTF-8"),
        (b"{", "line 1: not valid JSON"),
        (b"", "no predictions"),
    ],
)
def test_malformed_predictions_name_the_line(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_bytes(line + b"\n")
    with pytest.raises(InputError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        load_predictions(path)


def test_malformed_references_name_the_file_and_row(tmp_path):
    refs = _tables(tmp_path)
    preds = _pipeline_predictions(tmp_path, [("a", "1"), ("a", "2")])
    frame = pd.read_parquet(refs[0][1])
    frame.loc[1, "answer"] = None
    frame.to_parquet(tmp_path / "nulls.parquet")
    with pytest.raises(InputError, match=r"nulls.parquet: column 'answer' must hold text; row 1 \(id '2'\) holds null"):
        evaluate(preds, [("a", tmp_path / "nulls.parquet")])
    frame.drop(columns=["answer_processed"]).to_parquet(tmp_path / "short.parquet")
    with pytest.raises(InputError, match=r"short.parquet: reference table lacks the columns \['answer_processed'\]"):
        evaluate(preds, [("a", tmp_path / "short.parquet")])
    (tmp_path / "text.parquet").write_text("id,answer\n1,a\n")
    with pytest.raises(InputError, match="text.parquet: not a readable parquet file"):
        evaluate(preds, [("a", tmp_path / "text.parquet")])


def test_the_question_table_reads_the_errors_worst_first(tmp_path):
    refs = _tables(tmp_path)
    preds = _predictions(
        tmp_path,
        [
            {"id": "1", "source": "a", "prediction": "red car", "na_prob": 0.1},
            {"id": "2", "source": "a", "prediction": "a red bus", "na_prob": 0.2},
            {"id": "1", "source": "b", "prediction": "dark blue sky", "na_prob": 0.05},
        ],
    )
    output = tmp_path / "m.json"
    run_script(
        "metrics.py",
        *("--predictions", str(preds), "--references", *(f"{name}={path}" for name, path in refs)),
        *("--output", str(output), "--questions", str(tmp_path / "q.csv")),
    )
    table = pd.read_csv(tmp_path / "q.csv", keep_default_na=False)
    assert list(table.columns) == ["f1", "exact", "source", "id", "question", "gold", "prediction", "na_prob"]
    assert list(zip(table["source"], table["id"].astype(str))) == [("a", "2"), ("b", "1"), ("a", "1")]
    assert table["gold"].tolist() == ["(unanswerable)", "blue | dark blue", "red car"]
    assert table["f1"].tolist() == [0.0, 80.0, 100.0] and table["exact"].tolist() == [0, 0, 1]
    metrics = json.loads(output.read_text())
    assert metrics["f1"] == pytest.approx(table["f1"].mean())  # the same scores the metrics average

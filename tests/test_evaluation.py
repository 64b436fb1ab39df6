import json

import pandas as pd
import pytest

from t5qa import UNIFORM_COLUMNS
from t5qa.errors import InputError
from t5qa.evaluation import evaluate, gold_answers

from .conftest import run_script


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
        "evaluate.py",
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

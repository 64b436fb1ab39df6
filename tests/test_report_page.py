import copy
import json
import re
from pathlib import Path

import pytest

from t5qa.errors import InputError
from t5qa.report.report_page import load_report_inputs, parse_normalize_stats_arguments, render_report_page

from .conftest import run_script

SCORES = {
    "exact": 76.25,
    "f1": 76.256,
    "total": 400,
    "HasAns_exact": 69.05,
    "HasAns_f1": 69.05,
    "HasAns_total": 307,
    "NoAns_exact": 100.0,
    "NoAns_f1": 100.0,
    "NoAns_total": 93,
    "rougeL_precision": 76.25,
    "rougeL_recall": 76.25,
    "rougeL_f1": 76.25,
}
METRICS = {
    "dataset": "demo",
    "model": "scratch",
    **SCORES,
    "per_source": {
        "demo_squad": {**SCORES, "exact": 61.5, "total": 200},
        # No unanswerable questions in this source: its metrics have no NoAns_* keys.
        "demo_causalqa": {key: value for key, value in SCORES.items() if not key.startswith("NoAns")} | {"f1": 91.04},
    },
    "baselines": {
        "always_empty": {"exact": 23.25, "f1": 23.25},
        "most_frequent_answer": {"answer": "tourists stopped coming", "exact": 2.0, "f1": 2.0},
    },
}
LENGTHS = {"mean": 43.04, "p50": 43.0, "p90": 56.0, "p95": 59.0, "p99": 62.0, "max": 65}
TOKENIZE_STATS = {
    split: {
        "rows": rows,
        "rows_per_source": {"demo_squad": rows // 2, "demo_causalqa": rows // 2},
        "source_length": LENGTHS,
        "target_length": {"mean": 4.5, "p50": 4.0, "p90": 9.0, "p95": 11.0, "p99": 17.25, "max": 31},
        "inputs_truncated": 0,
        "targets_truncated": 2,
        "model_inputs": rows,
        "answers_past_cut": 0,
        "answers_unseen": 0,
    }
    for split, rows in (("train", 2400), ("validation", 400))
} | {
    "settings": {
        "template": "question: {question} context: {context}",
        "unanswerable_target": "unanswerable",
        "max_source_length": 256,
        "max_target_length": 32,
        "text_columns": "raw",
    }
}


def normalize_stats(source: str, split: str) -> dict:
    """As the normalize step writes them: each drop reason with a count and the first ids."""
    return {
        "input": f"results/raw/{source}/{split}.json",
        "rows_read": 1200,
        "rows_written": 1197,
        "dropped": {"empty_question": {"count": 3, "first_ids": ["a", "b", "c"]}},
        "kept": {"unanswerable": 338},
    }


def page_text(page: str) -> str:
    """The page as a reader sees it: no tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page.replace("<wbr>", "")).split())


@pytest.fixture
def inputs(tmp_path):
    """The script's arguments for a two-source dataset, each input a file under tmp_path."""
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    (tmp_path / "tokenize.json").write_text(json.dumps(TOKENIZE_STATS))
    (tmp_path / "report").mkdir()  # so a temporary left behind would show
    normalize_args = []
    for source in ("demo_squad", "demo_causalqa"):
        for split in ("train", "validation"):
            path = tmp_path / f"{source}.{split}.stats.json"
            path.write_text(json.dumps(normalize_stats(source, split)))
            normalize_args.append(f"{source}:{split}={path}")
    return {
        "metrics": tmp_path / "metrics.json",
        "normalize": normalize_args,
        "tokenize": tmp_path / "tokenize.json",
        "output": tmp_path / "report" / "demo.html",
    }


def run(inputs, check: bool = True):
    return run_script(
        "report_page.py",
        "--dataset",
        "demo",
        "--metrics",
        str(inputs["metrics"]),
        "--normalize-stats",
        *inputs["normalize"],
        "--tokenize-stats",
        str(inputs["tokenize"]),
        "--output",
        str(inputs["output"]),
        check=check,
    )


def render(metrics=METRICS, normalize=None, tokenize=TOKENIZE_STATS) -> str:
    if normalize is None:
        normalize = {s: {p: normalize_stats(s, p) for p in ("train", "validation")} for s in METRICS["per_source"]}
    return render_report_page("demo", metrics, normalize, tokenize)


def test_scores_come_first_with_every_row():
    page = render()
    text = page_text(page)
    assert page.index("Scores") < page.index("Normalisation") < page.index("Tokenization")
    assert "EM 76.25 · F1 76.26 on 400 validation questions · model scratch" in text
    # Short heads under their group (the official key is each one's tooltip).
    assert "all HasAns NoAns EM F1 n EM F1 n EM F1 n ROUGE-L" in text and 'title="HasAns_total">n<' in page
    assert "all 76.25 76.26 400 69.05 69.05 307 100.00 100.00 93 76.25" in text
    assert "demo_squad 61.50 76.26 200 69.05 69.05 307 100.00 100.00 93 76.25" in text
    # A source without unanswerable questions: its NoAns_* cells are marked missing, the others stay in place.
    assert "demo_causalqa 76.25 91.04 400 69.05 69.05 307 – – – 76.25" in text
    assert "this model 76.25 76.26" in text
    assert "always_empty 23.25 23.25 –" in text
    assert "most_frequent_answer 2.00 2.00 tourists stopped coming" in text


def test_only_the_score_columns_some_row_has():
    metrics = {key: value for key, value in METRICS.items() if not key.startswith("NoAns") and key != "per_source"}
    page = render(metrics=metrics)
    assert "HasAns_total" in page and "NoAns" not in page


def test_normalisation_and_tokenization_numbers():
    normalize = {
        "demo_squad": {"train": normalize_stats("demo_squad", "train")},
        # A plain count reads as well as the normalize step's {"count": ..., "first_ids": ...}.
        "demo_causalqa": {"validation": {"rows_read": 50, "rows_written": 48, "dropped": {"bad_span": 2}, "kept": {}}},
    }
    text = page_text(render(normalize=normalize))
    # The reasons are rows (many of them), the sources and splits columns (few): the table stays narrow.
    assert "rows demo_squad / train demo_causalqa / validation rows_read 1200 50 rows_written 1197 48" in text
    assert "bad_span dropped 0 2 empty_question dropped 3 0 unanswerable kept 338 0" in text
    assert "train 2400 2400 0 2 0 0" in text and "validation 400 400 0 2 0 0" in text  # inputs, truncated, answers
    assert "demo_squad 1200 200" in text
    assert "train source 43.04 43.00 56.00 59.00 62.00 65" in text
    assert "validation target 4.50 4.00 9.00 11.00 17.25 31" in text
    assert "template question: {question} context: {context}" in text
    assert "max_source_length 256" in text


def test_text_from_the_inputs_is_escaped():
    odd = '<script>alert("x")</script>&'
    metrics = copy.deepcopy(METRICS)
    metrics["per_source"][odd] = metrics["per_source"].pop("demo_squad")
    metrics["baselines"]["most_frequent_answer"]["answer"] = odd
    stats = normalize_stats(odd, "train")
    stats["dropped"][odd] = 1
    tokenize = copy.deepcopy(TOKENIZE_STATS)
    tokenize["train"]["rows_per_source"][odd] = 5
    page = render_report_page(odd, metrics, {odd: {"train": stats}}, tokenize)
    assert "<script" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page


def test_script_writes_the_page(inputs):
    result = run(inputs)
    page = inputs["output"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "t5qa report: demo" in page
    assert "<script" not in page and "http" not in page  # self-contained: nothing to run, nothing to fetch
    assert "rows_read 1200 1200 1200 1200 rows_written 1197 1197 1197 1197" in page_text(page)
    assert "error" not in result.stderr


def test_a_single_source_dataset_needs_no_per_source(inputs):
    metrics = {key: value for key, value in METRICS.items() if key != "per_source"}
    inputs["metrics"].write_text(json.dumps(metrics))
    inputs["normalize"] = inputs["normalize"][:2]
    run(inputs)
    assert "demo_<wbr>squad /<br>validation" in inputs["output"].read_text(encoding="utf-8")


def _broken(inputs, name: str, damage: str):
    """Damage one input; return the path the error must name."""
    path = inputs[name] if name != "normalize" else Path(inputs["normalize"][1].split("=", 1)[1])
    if damage == "missing":
        path.unlink()
    elif damage == "not JSON":
        path.write_text('{"exact": 1,')
    elif damage == "no per_source":
        path.write_text(json.dumps({key: value for key, value in METRICS.items() if key != "per_source"}))
    elif damage == "no dropped":
        path.write_text(json.dumps({"rows_read": 1, "rows_written": 1, "kept": {}}))
    elif damage == "validation not an object":
        path.write_text(json.dumps(TOKENIZE_STATS | {"validation": []}))
    return path


@pytest.mark.parametrize(
    "name, damage, problem",
    [
        ("metrics", "missing", "metrics not found"),
        ("metrics", "not JSON", "not valid JSON"),
        ("metrics", "no per_source", "metrics: missing per_source, though the dataset has 2 sources"),
        ("normalize", "missing", "normalize stats not found"),
        ("normalize", "no dropped", "normalize stats: missing dropped"),
        ("tokenize", "not JSON", "not valid JSON"),
        ("tokenize", "validation not an object", "tokenize stats: validation must be a JSON object, not a list"),
    ],
)
def test_bad_input_is_one_error_line_and_no_page(inputs, name, damage, problem):
    path = _broken(inputs, name, damage)
    result = run(inputs, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[-1]] and errors[-1].startswith(f"error: {path}: {problem}"), result.stderr
    assert list(inputs["output"].parent.iterdir()) == [], "no page and no temporary left behind"


@pytest.mark.parametrize(
    "argument, problem",
    [
        ("demo_squad=x.json", " is not SOURCE:SPLIT=PATH"),
        ("demo_squad:train", " is not SOURCE:SPLIT=PATH"),
        (":train=x.json", " is not SOURCE:SPLIT=PATH"),
        ("demo_squad:test=x.json", ": the split must be train or validation"),
    ],
)
def test_bad_normalize_stats_argument(inputs, argument, problem):
    inputs["normalize"].append(argument)
    result = run(inputs, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: --normalize-stats: {argument!r}{problem}"
    assert not inputs["output"].exists()


def test_parse_normalize_stats_arguments():
    parsed = parse_normalize_stats_arguments(["a:b:train=x=1.json", "a:b:validation=y.json", "c:train=z.json"])
    assert {source: {split: str(p) for split, p in splits.items()} for source, splits in parsed.items()} == {
        "a:b": {"train": "x=1.json", "validation": "y.json"},
        "c": {"train": "z.json"},
    }
    with pytest.raises(InputError, match="c:train is given twice"):
        parse_normalize_stats_arguments(["c:train=z.json", "c:train=w.json"])


def test_load_report_inputs_reads_what_the_page_shows(inputs):
    paths = parse_normalize_stats_arguments(inputs["normalize"])
    metrics, normalize, tokenize = load_report_inputs(inputs["metrics"], paths, inputs["tokenize"])
    assert metrics == METRICS and tokenize == TOKENIZE_STATS
    assert normalize["demo_causalqa"]["train"]["dropped"]["empty_question"]["count"] == 3


def test_report_labels_carry_the_scores_the_landing_page_shows(tmp_path):
    from t5qa.report.report_labels import score_labels, summary_labels

    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    assert score_labels(tmp_path / "metrics.json", "default", "demo") == {
        "experiment": "default",
        "dataset": "demo",
        "EM": "76.25",
        "F1": "76.26",
        "questions": 400,
    }
    # The best F1 of the mean rows and seedless runs: a lucky seed does not speak for its cell.
    (tmp_path / "summary.csv").write_text(
        "experiment,group,seed,trained_on,evaluated_on,split,total,f1,f1_std\n"
        "lr (mean ± std over 2 seeds),lr,,demo,demo,validation,400,70.0,2.0\n"
        "lr-seed1,lr,1,demo,demo,validation,400,72.0,\n"
        "lr-seed2,lr,2,demo,demo,validation,400,68.0,\n"
        "solo,solo,,demo,other,validation,400,65.0,\n",
        encoding="utf-8",
    )
    assert summary_labels(tmp_path / "summary.csv", "lr-1234") == {
        "comparison": "lr-1234",
        "rows": 4,
        "best F1": "70.00 ± 2.00",
        "best": "lr on demo",
    }

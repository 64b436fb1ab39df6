import json
import re
from pathlib import Path

import pandas as pd
import pytest

from t5qa.errors import InputError
from t5qa.report.summary import (
    load_runs,
    read_summary_csv,
    setting_columns,
    summary_table,
    to_markdown,
    write_summary,
)
from t5qa.report.summary_page import render_summary_page

from .conftest import run_script


def metrics_file(folder: Path, name: str, f1: float, **extra) -> Path:
    """A metrics JSON of the metrics step's shape: exact one below f1, 400 questions."""
    path = folder / f"{name}.json"
    metrics = {"dataset": "demo", "model": "scratch", "exact": f1 - 1, "f1": f1, "total": 400, "rougeL_f1": f1}
    path.write_text(json.dumps(metrics | extra), encoding="utf-8")
    return path


def run(experiment: str, metrics: Path, group: str | None = None, seed: int | None = None, **changes) -> dict:
    return {
        "experiment": experiment,
        "group": group or experiment,
        "seed": seed,
        "trained_on": "demo",
        "evaluated_on": "demo",
        "split": "validation",
        "metrics": str(metrics),
    } | changes


@pytest.fixture
def sweep(tmp_path) -> list[dict]:
    """Two seeds of lr0.1 (one broken down by source, one missing NoAns), and an experiment without seeds."""
    per_source = {"demo_squad": {"exact": 70.0, "f1": 72.0, "total": 200}}
    return [
        run("lr0.1_seed1", metrics_file(tmp_path, "a", 60.0, NoAns_f1=90.0, per_source=per_source), "lr0.1", 1),
        run("lr0.1_seed2", metrics_file(tmp_path, "b", 64.0), "lr0.1", 2),
        run("baseline", metrics_file(tmp_path, "c", 100 / 3)),  # a float with no short decimal form
    ]


def test_seeds_of_one_group_give_mean_and_sample_std(sweep):
    table = summary_table(load_runs(sweep))

    assert list(table["experiment"]) == ["lr0.1 (mean ± std over 2 seeds)", "lr0.1_seed1", "lr0.1_seed2", "baseline"]
    aggregate = table.iloc[0]
    assert aggregate["f1"] == pytest.approx(62.0)
    assert aggregate["exact"] == pytest.approx(61.0)
    assert aggregate["f1_std"] == pytest.approx(2 * 2**0.5)  # ddof=1: sqrt((2² + 2²) / 1)
    assert pd.isna(aggregate["seed"])
    assert aggregate["total"] == 400
    assert aggregate["NoAns_f1"] == 90.0 and pd.isna(aggregate["NoAns_f1_std"])  # only one seed has it
    assert table.loc[[1, 2, 3], "f1_std"].isna().all()


def test_a_single_run_has_no_aggregate_and_empty_std(tmp_path):
    table = summary_table(load_runs([run("only_seed1", metrics_file(tmp_path, "a", 60.0), "only", 1)]))
    assert len(table) == 1
    assert table.filter(like="_std").isna().all(axis=None)


def test_per_source_columns_appear_empty_where_absent(sweep):
    table = summary_table(load_runs(sweep))
    assert list(table["f1[demo_squad]"].iloc[1:3]) == [72.0, pytest.approx(float("nan"), nan_ok=True)]
    assert table["f1[demo_squad]"].iloc[0] == 72.0  # the mean over the seeds that have it


def test_seeds_sit_under_their_mean_grouped_by_what_they_are_scored_on(tmp_path):
    """Runs come as evaluation_runs lists them (each experiment on every dataset in turn); the table groups them by
    the dataset scored on, then by cell, each mean row right above its seeds."""
    runs = [
        run("a_seed1", metrics_file(tmp_path, "1", 10.0), "a", 1),
        run("a_seed1", metrics_file(tmp_path, "4", 40.0), "a", 1, evaluated_on="squad"),
        run("other", metrics_file(tmp_path, "2", 20.0)),
        run("a_seed2", metrics_file(tmp_path, "3", 30.0), "a", 2),
        run("a_seed2", metrics_file(tmp_path, "5", 50.0), "a", 2, evaluated_on="squad"),
        run("b_seed1", metrics_file(tmp_path, "6", 50.0), "b", 1, evaluated_on="squad"),
    ]
    table = summary_table(load_runs(runs))
    assert list(zip(table["experiment"], table["evaluated_on"])) == [
        ("a (mean ± std over 2 seeds)", "demo"),
        ("a_seed1", "demo"),
        ("a_seed2", "demo"),
        ("other", "demo"),
        ("a (mean ± std over 2 seeds)", "squad"),
        ("a_seed1", "squad"),
        ("a_seed2", "squad"),
        ("b_seed1", "squad"),  # one seed: nothing to average
    ]
    assert table["f1"].iloc[4] == pytest.approx(45.0)


def test_the_varied_settings_are_columns(tmp_path):
    runs = [
        run(
            "lr-0.001-seed1", metrics_file(tmp_path, "1", 10.0), "lr-0.001", 1, settings={"train.learning_rate": 0.001}
        ),
        run(
            "lr-0.001-seed2", metrics_file(tmp_path, "2", 20.0), "lr-0.001", 2, settings={"train.learning_rate": 0.001}
        ),
        run("big", metrics_file(tmp_path, "3", 30.0), settings={"train.learning_rate": 0.003, "finetune": False}),
    ]
    table = summary_table(load_runs(runs))
    assert setting_columns(table) == ["train.learning_rate", "finetune"]
    assert list(table.columns[:5]) == ["experiment", "group", "seed", "train.learning_rate", "finetune"]
    assert list(table["train.learning_rate"]) == [0.001, 0.001, 0.001, 0.003]  # the mean row carries its cell's
    assert table["finetune"].iloc[3] is False or table["finetune"].iloc[3] == False  # noqa: E712
    markdown = to_markdown(table).splitlines()
    assert markdown[0].startswith("| experiment | seed | train.learning_rate | finetune | trained_on |")
    assert markdown[2].startswith("| lr-0.001 (mean ± std over 2 seeds) | – | 0.001 | – | demo |")
    assert markdown[5].startswith("| big | – | 0.003 | false | demo |")

    csv = tmp_path / "out.csv"
    write_summary(table, [csv, tmp_path / "copy.csv"], tmp_path / "out.md")
    assert csv.read_bytes() == (tmp_path / "copy.csv").read_bytes()
    assert setting_columns(read_summary_csv(csv)) == ["train.learning_rate", "finetune"]

    with pytest.raises(InputError, match=r"settings 'f1' is a column of its own"):
        load_runs([run("x", metrics_file(tmp_path, "4", 1.0), settings={"f1": 1})])
    with pytest.raises(InputError, match=r"settings 'model.x' must be one value, not a list"):
        load_runs([run("x", metrics_file(tmp_path, "4", 1.0), settings={"model.x": [1]})])


def test_the_page_is_a_sortable_table_with_seeds_under_their_mean(tmp_path):
    runs = [
        run(
            "lr-0.001-seed1", metrics_file(tmp_path, "1", 10.0), "lr-0.001", 1, settings={"train.learning_rate": 0.001}
        ),
        run(
            "lr-0.001-seed2", metrics_file(tmp_path, "2", 20.0), "lr-0.001", 2, settings={"train.learning_rate": 0.001}
        ),
        run("<b>", metrics_file(tmp_path, "3", 30.0), settings={"train.learning_rate": 0.003}),
    ]
    csv = tmp_path / "summary.csv"
    write_summary(summary_table(load_runs(runs)), csv, tmp_path / "summary.md")
    page = render_summary_page(read_summary_csv(csv), "lr & more", csv_name="results/summary/lr.csv")

    assert "<title>lr &amp; more</title>" in page and "&lt;b&gt;" in page and "<b>" not in page.split("<body>")[1]
    assert "<script>" in page and "http" not in page.replace("http-equiv", "")  # offline: no CDN
    heads = re.findall(r'<th scope="col">([^<]*)</th>', page.replace("<wbr>", ""))
    # What all rows share is said once (the page must fit the report's frame); the CSV keeps every column.
    assert heads == ["experiment", "train.learning_rate", "EM", "F1", "ROUGE-L"]
    assert "trained on: demo; evaluated on: demo; split: validation; n: 400." in page
    groups = re.findall(r"<tbody>(.*?)</tbody>", page, re.S)
    assert [re.findall(r'<tr class="(\w+)">', group) for group in groups] == [["mean", "seed", "seed"], ["run"]]
    assert "15.00<small>± 7.07</small>" in groups[0] and ">seed 2<" in groups[0]
    assert 'data-value="0.003">0.003<' in groups[1]


def test_markdown_shows_mean_plus_minus_std_and_dashes(sweep):
    sweep[2]["experiment"] = sweep[2]["group"] = "base|line"
    lines = to_markdown(summary_table(load_runs(sweep))).splitlines()

    header = [cell.strip() for cell in lines[0].strip("|").split(" | ")]
    assert header == [
        "experiment",
        "seed",
        "trained_on",
        "evaluated_on",
        "split",
        "total",
        "exact",
        "f1",
        "HasAns_exact",
        "HasAns_f1",
        "NoAns_exact",
        "NoAns_f1",
        "rougeL_f1",
        "f1[demo_squad]",
    ]
    assert lines[1].startswith("| --- | ---: |")
    assert (
        lines[3]
        == "| lr0.1_seed1 | 1 | demo | demo | validation | 400 | 59.00 | 60.00 | – | – | – | 90.00 | 60.00 | 72.00 |"
    )
    assert "| 400 | 61.00 ± 2.83 | 62.00 ± 2.83 | – | – | – | 90.00 ± – | 62.00 ± 2.83 | 72.00 ± – |" in lines[2]
    assert lines[2].startswith("| lr0.1 (mean ± std over 2 seeds) | – | demo | demo | validation |")
    assert lines[5].startswith("| base\\|line | – | demo | demo | validation | 400 | 32.33 | 33.33 |")
    assert len(lines) == 6


def test_csv_round_trips_through_pandas(sweep, tmp_path):
    table = summary_table(load_runs(sweep))
    csv, markdown = tmp_path / "out" / "summary.csv", tmp_path / "out" / "summary.md"
    write_summary(table, csv, markdown)

    read = pd.read_csv(csv)
    pd.testing.assert_frame_equal(read, table, check_dtype=False, check_exact=True)
    assert markdown.read_text(encoding="utf-8") == to_markdown(table)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": True}, r"^--runs\[0\] \('x'\): seed: true is not allowed; allowed: an integer or null$"),
        ({"metrics": "nowhere.json"}, r"^nowhere.json: metrics not found$"),
        ({"experiment": "\ud800"}, r"experiment: '\\ud800' is not valid text"),
    ],
)
def test_load_runs_refuses_bad_runs(tmp_path, change, message):
    with pytest.raises(InputError, match=message):
        load_runs([run("x", metrics_file(tmp_path, "a", 1.0)) | change])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "metrics must be a JSON object, not a list"),
        ('{"exact": 1, "f1": 1}', "metrics: missing total"),
        ('{"exact": 1, "f1": "1", "total": 3}', "metrics: f1 must be a number, not text"),
        ('{"exact": 1, "f1": 1, "total": 3, "per_source": {"s": []}}', "per_source 's' must be a JSON object"),
    ],
)
def test_load_runs_refuses_bad_metrics(tmp_path, text, message):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(InputError, match=f"^{path}: {message}"):
        load_runs([run("x", path)])


def test_load_runs_refuses_one_seed_twice_in_a_cell(tmp_path):
    metrics = metrics_file(tmp_path, "a", 1.0)
    with pytest.raises(InputError, match="'x_seed1' and 'y_seed1' are both seed 1 of group 'x'"):
        load_runs([run("x_seed1", metrics, "x", 1), run("y_seed1", metrics, "x", 1)])


# --- the CLI, end to end


def run_summary(tmp_path: Path, runs_argument: str) -> tuple[object, Path, Path]:
    csv, markdown = tmp_path / "out" / "summary.csv", tmp_path / "out" / "summary.md"
    args = ["--runs", runs_argument, "--csv", str(csv), "--markdown", str(markdown)]
    return run_script("summary.py", *args, check=False), csv, markdown


def test_cli_writes_both_tables(sweep, tmp_path):
    runs_file = tmp_path / "runs.json"
    runs_file.write_text(json.dumps(sweep))
    for argument in (json.dumps(sweep), f"@{runs_file}"):
        result, csv, markdown = run_summary(tmp_path, argument)
        assert result.returncode == 0, result.stderr
        assert len(pd.read_csv(csv)) == 4 and list(pd.read_csv(csv)["seed"].iloc[:3].fillna(0)) == [0, 1, 2]
        assert "62.00 ± 2.83" in markdown.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("break_runs", "message"),
    [
        (lambda runs, folder: json.dumps(runs).replace("b.json", "missing.json"), "missing.json: metrics not found"),
        (lambda runs, folder: json.dumps(runs)[:-1], "--runs: not valid JSON"),
        (
            lambda runs, folder: json.dumps([{k: v for k, v in r.items() if k != "trained_on"} for r in runs]),
            "--runs[0] ('lr0.1_seed1'): missing 'trained_on'",
        ),
        (lambda runs, folder: f"@{folder / 'absent.json'}", "absent.json not found"),
    ],
    ids=["missing metrics file", "bad JSON", "no trained_on", "missing runs file"],
)
def test_cli_refuses_bad_input_in_one_line(sweep, tmp_path, break_runs, message):
    result, csv, markdown = run_summary(tmp_path, break_runs(sweep, tmp_path))

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_page_cli_writes_the_page_and_refuses_a_table_that_is_no_summary(sweep, tmp_path):
    result, csv, _ = run_summary(tmp_path, json.dumps(sweep))
    assert result.returncode == 0, result.stderr
    page = tmp_path / "out" / "summary.html"
    done = run_script("summary_page.py", "--csv", str(csv), "--output", str(page), "--title", "sweep")
    assert "<h1>sweep</h1>" in page.read_text(encoding="utf-8") and "error" not in done.stderr

    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    refused = run_script("summary_page.py", "--csv", str(other), "--output", str(tmp_path / "x.html"), check=False)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert errors == [
        f"error: {other}: not a summary table (missing experiment, group, seed, trained_on, evaluated_on,"
        " split, total, exact, f1, f1_std)"
    ]
    assert not (tmp_path / "x.html").exists()

import json
from pathlib import Path

import pandas as pd
import pytest

from t5qa.errors import InputError
from t5qa.summary import load_runs, summary_table, to_markdown, write_summary

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

    assert list(table["experiment"]) == ["lr0.1_seed1", "lr0.1_seed2", "lr0.1 (mean ± std over 2 seeds)", "baseline"]
    aggregate = table.iloc[2]
    assert aggregate["f1"] == pytest.approx(62.0)
    assert aggregate["exact"] == pytest.approx(61.0)
    assert aggregate["f1_std"] == pytest.approx(2 * 2**0.5)  # ddof=1: sqrt((2² + 2²) / 1)
    assert pd.isna(aggregate["seed"])
    assert aggregate["total"] == 400
    assert aggregate["NoAns_f1"] == 90.0 and pd.isna(aggregate["NoAns_f1_std"])  # only one seed has it
    assert table.loc[[0, 1, 3], "f1_std"].isna().all()


def test_a_single_run_has_no_aggregate_and_empty_std(tmp_path):
    table = summary_table(load_runs([run("only_seed1", metrics_file(tmp_path, "a", 60.0), "only", 1)]))
    assert len(table) == 1
    assert table.filter(like="_std").isna().all(axis=None)


def test_per_source_columns_appear_empty_where_absent(sweep):
    table = summary_table(load_runs(sweep))
    assert list(table["f1[demo_squad]"].iloc[:2]) == [72.0, pytest.approx(float("nan"), nan_ok=True)]
    assert table["f1[demo_squad]"].iloc[2] == 72.0  # the mean over the seeds that have it


def test_aggregate_row_follows_the_last_run_of_its_group(tmp_path):
    runs = [
        run("a_seed1", metrics_file(tmp_path, "1", 10.0), "a", 1),
        run("other", metrics_file(tmp_path, "2", 20.0)),
        run("a_seed2", metrics_file(tmp_path, "3", 30.0), "a", 2),
        run("a_seed1", metrics_file(tmp_path, "4", 40.0), "a", 1, evaluated_on="squad"),
    ]
    table = summary_table(load_runs(runs))
    # The run evaluated elsewhere is a cell of its own, with one seed: not aggregated.
    assert list(table["experiment"]) == ["a_seed1", "other", "a_seed2", "a (mean ± std over 2 seeds)", "a_seed1"]


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
        lines[2]
        == "| lr0.1_seed1 | 1 | demo | demo | validation | 400 | 59.00 | 60.00 | – | – | – | 90.00 | 60.00 | 72.00 |"
    )
    assert "| 400 | 61.00 ± 2.83 | 62.00 ± 2.83 | – | – | – | 90.00 ± – | 62.00 ± 2.83 | 72.00 ± – |" in lines[4]
    assert lines[4].startswith("| lr0.1 (mean ± std over 2 seeds) | – | demo | demo | validation |")
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
        ({"seed": True}, r"^--runs\[0\] \('x'\): seed must be an integer or null, not true$"),
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
        ('{"exact": 1, "f1": "1", "total": 3}', "metrics: f1 must be a number, not a string"),
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
        assert len(pd.read_csv(csv)) == 4
        assert "62.00 ± 2.83" in markdown.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("break_runs", "message"),
    [
        (lambda runs, folder: json.dumps(runs).replace("b.json", "missing.json"), "missing.json: metrics not found"),
        (lambda runs, folder: json.dumps(runs)[:-1], "--runs: not valid JSON"),
        (
            lambda runs, folder: json.dumps([{k: v for k, v in r.items() if k != "trained_on"} for r in runs]),
            "--runs[0] ('lr0.1_seed1'): missing trained_on",
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

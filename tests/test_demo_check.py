"""`make demo`'s last lines: the score beside the expected range (t5qa.report.demo_check)."""

import json
import subprocess
import sys

import pytest

from t5qa.errors import InputError
from t5qa.report.demo_check import read_expected, report


def expected(tmp_path, **changes):
    content = {
        "runs": 10,
        "margin": 2.0,
        "versions": {"torch": "2.13.0"},
        "scores": {
            "exact": {"mean": 95.0, "std": 0.5, "min": 94.25, "max": 95.75},
            "f1": {"mean": 95.2, "std": 0.5, "min": 94.5, "max": 96.0},
        },
    } | changes
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(content))
    return path


def metrics(exact, f1):
    return {"exact": exact, "f1": f1, "total": 400}


def test_a_score_in_the_range_prints_it_beside_the_range_and_no_warning(tmp_path):
    lines = report(metrics(94.0, 97.9), read_expected(expected(tmp_path)), "results/metrics/demo.json")
    assert lines == [
        "demo: exact 94.00  F1 97.90  on 400 questions -> results/metrics/demo.json",
        "demo: expected exact 95.0 ± 0.5 (94.25-95.75), F1 95.2 ± 0.5 (94.50-96.00) over 10 runs "
        "(seeds x torch threads; benchmarks/demo_spread.py)",
    ]


def test_a_score_beyond_the_margin_says_so_in_one_line_with_where_to_look(tmp_path):
    lines = report(metrics(57.25, 98.5), read_expected(expected(tmp_path)), "results/metrics/demo.json")
    assert len(lines) == 3
    warning = lines[2]
    assert warning.startswith("demo: exact 57.25 and F1 98.50: more than 2 points outside the expected range")
    assert "logs/train/demo.log" in warning and "run_manifest.json" in warning and "torch 2.13.0" in warning


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"margin": -1}, "margin must be a number of points, 0 or more"),
        ({"scores": {"exact": {"mean": 1, "std": 0, "min": 0, "max": 2}}}, "scores.f1 must be a JSON object, not null"),
        (
            {"scores": {k: {"mean": "95", "std": 0, "min": 0, "max": 2} for k in ("exact", "f1")}},
            "scores.exact: mean, std, min and max must be numbers",
        ),
    ],
)
def test_a_broken_expected_file_is_one_line_naming_it(tmp_path, changes, message):
    path = expected(tmp_path, **changes)
    with pytest.raises(InputError, match=message) as err:
        read_expected(path)
    assert str(path) in str(err.value)


def test_the_command_prints_the_report_and_refuses_a_missing_metrics_file_in_one_line(tmp_path):
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(metrics(95.0, 95.2)))
    command = [sys.executable, "-m", "t5qa.report.demo_check"]
    result = subprocess.run([*command, str(path), str(expected(tmp_path))], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2  # in the range: no warning
    missing = subprocess.run(
        [*command, str(tmp_path / "none.json"), str(expected(tmp_path))], capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"error: {tmp_path / 'none.json'}: metrics file not found"

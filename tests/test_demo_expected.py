"""The range `make demo` compares its score with was measured on the demo as it is configured now."""

import hashlib

from t5qa.report.demo_check import read_expected

from .conftest import REPO


def test_the_expected_range_was_measured_on_the_current_demo_config():
    expected = read_expected(REPO / "benchmarks/demo_expected.json")
    # Changing config/demo.yaml changes the score: rerun `python benchmarks/demo_spread.py --write-expected`.
    assert expected["config_sha256"] == hashlib.sha256((REPO / "config/demo.yaml").read_bytes()).hexdigest()
    assert expected["runs"] >= 10  # 5 seeds x torch threads 1 and 2
    for key in ("exact", "f1"):
        scores = expected["scores"][key]
        assert scores["min"] <= scores["mean"] <= scores["max"]

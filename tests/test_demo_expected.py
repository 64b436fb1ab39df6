"""The range `make demo` compares its score with was measured on the demo as it is configured now."""

from t5qa.report.demo_check import demo_inputs_sha256, read_expected

from .conftest import REPO


def test_the_expected_range_was_measured_on_the_current_demo():
    expected = read_expected(REPO / "benchmarks/demo_expected.json")
    # Changing config/demo.yaml or resources/demo/ changes the score: rerun
    # `python benchmarks/demo_spread.py --write-expected`.
    for key, sha256 in demo_inputs_sha256(REPO).items():
        assert expected[key] == sha256, key
    assert expected["runs"] >= 10  # 5 seeds x torch threads 1 and 2
    for key in ("exact", "f1"):
        scores = expected["scores"][key]
        assert scores["min"] <= scores["mean"] <= scores["max"]
